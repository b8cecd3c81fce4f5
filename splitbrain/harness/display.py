"""The live view of a running test: phase, elapsed time, ops by outcome, active faults.

Drawn with rich on a terminal only; when stdout is not a terminal (CI, pipes, tests) it draws
nothing, so logs stay clean and the final verdict is the only output.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table


class Stats:
    """What the run loop tells the display: the phase, completion counts, the nemesis (whose
    ``active`` faults are shown)."""

    def __init__(self) -> None:
        self.phase = "starting"
        self.started = time.monotonic()
        self.outcomes: Counter[str] = Counter()
        self.nemesis: Any = None  # whatever has a list of ``active`` faults (a nemesis Schedule)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


class Display:
    """A context manager that refreshes a rich table from :class:`Stats` while the run goes."""

    def __init__(self, stats: Stats, *, title: str, enabled: bool | None = None):
        self.stats = stats
        self.title = title
        self.enabled = sys.stdout.isatty() if enabled is None else enabled
        self._live: Live | None = None

    def _render(self) -> Table:
        s = self.stats
        t = Table(title=self.title, show_header=False, box=None)
        t.add_row("phase", s.phase)
        t.add_row("elapsed", f"{s.elapsed:6.1f} s")
        done = sum(s.outcomes.values())
        t.add_row("ops", "  ".join(f"{k} {s.outcomes.get(k, 0)}" for k in ("ok", "fail", "info"))
                  + f"  ({done / max(s.elapsed, 1e-9):.0f}/s)")
        active = getattr(s.nemesis, "active", None)
        t.add_row("fault", "none" if not active else
                  "; ".join(f"{op.get('f')} {op.get('value')}" for op in active))
        return t

    def __enter__(self) -> "Display":
        if self.enabled:
            self._live = Live(get_renderable=self._render, console=Console(), refresh_per_second=4,
                              transient=True)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self._live = None
