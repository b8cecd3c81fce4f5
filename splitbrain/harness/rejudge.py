"""Re-judging a whole store (``splitbrain check store/``): today's checkers on every stored run,
compared with the verdict each run recorded, so a checker upgrade can be tried on a team's
archive before it gates anything.

Rules:

* a run is a directory holding ``test.json``; the walk goes down every directory but follows
  no symbolic link, so ``store/latest`` does not judge a run twice;
* a run without ``results.json`` was never judged (the tester failed during it): it is counted,
  not judged, since there is no verdict to compare;
* a run that cannot be read (a damaged ``test.json``, ``results.json`` or history) is listed
  with the sentence saying what is wrong;
* a verdict changed when the ``valid`` of ``results.json`` differs from today's; nothing in
  the store is rewritten.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from splitbrain.checkers.result import Result
from splitbrain.errors import BadInput
from splitbrain.harness import store
from splitbrain.harness.testrun import recheck
from splitbrain.history import HistoryError
from splitbrain.reports.text import verdict_word


@dataclass
class Rejudged:
    """One stored run judged again: its test record, the verdict it recorded, today's."""

    run_dir: Path
    test: dict[str, Any]
    recorded: Any
    result: Result

    @property
    def changed(self) -> bool:
        return verdict_word(self.recorded) != verdict_word(self.result.valid)


@dataclass
class StoreVerdicts:
    """What re-judging a store found."""

    root: Path
    judged: list[Rejudged] = field(default_factory=list)
    never_checked: list[Path] = field(default_factory=list)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def changed(self) -> list[Rejudged]:
        return [r for r in self.judged if r.changed]

    def exit_code(self) -> int:
        """1 when a verdict changed to invalid; else 254 when a run could not be read; else 2
        when one changed to unknown; else 0 (a verdict that became valid is listed but does
        not fail the gate)."""
        now = {verdict_word(r.result.valid) for r in self.changed}
        if "invalid" in now:
            return 1
        if self.unreadable:
            return 254
        return 2 if "unknown" in now else 0

    def to_dict(self) -> dict[str, Any]:
        """What ``check store/ --json`` prints: the counts, each changed run (recorded and
        today's ``valid``, today's reason), the unreadable runs and the never checked."""
        return {"store": str(self.root), "judged": len(self.judged),
                "changed": [{"run": str(r.run_dir), "recorded": r.recorded,
                             "valid": r.result.valid, "reason": r.result.reason}
                            for r in self.changed],
                "unreadable": [{"run": str(p), "error": e} for p, e in self.unreadable],
                "never_checked": [str(p) for p in self.never_checked]}

    def lines(self) -> list[str]:
        """The terminal account: a table of the runs whose verdict changed, the unreadable
        runs, and a last line with the counts."""
        out = []
        rows = [(str(r.run_dir), verdict_word(r.recorded), verdict_word(r.result.valid),
                 r.result.reason or "") for r in self.changed]
        if rows:
            width = max(len(row[0]) for row in rows)
            out.append(f"{'run':<{width}}  {'recorded':<8}  {'now':<8}  why")
            out += [f"{run:<{width}}  {was:<8}  {now:<8}  {why}" for run, was, now, why in rows]
        out += [f"{path}: could not be judged: {why}" for path, why in self.unreadable]
        skipped = (f", {len(self.never_checked)} never checked (the tester failed during them)"
                   if self.never_checked else "")
        unread = f", {len(self.unreadable)} unreadable" if self.unreadable else ""
        out.append(f"{self.root}: {len(self.judged)} runs judged again, {len(self.changed)} "
                   f"verdicts changed{unread}{skipped}")
        return out


def is_store(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a directory of runs rather than one run (it has no test.json)."""
    return Path(path).is_dir() and not (Path(path) / store.TEST_FILE).exists()


def find_runs(root: str | os.PathLike) -> list[Path]:
    """Every run directory under ``root``, sorted, following no symbolic link."""
    runs = []
    for here, dirs, files in os.walk(root):
        if store.TEST_FILE in files:
            runs.append(Path(here))
            dirs.clear()  # a run holds no runs (its cluster/ and nodes/ are no runs)
        dirs.sort()
    return sorted(runs)


def _recorded(run_dir: Path) -> Any:
    """The ``valid`` of the run's results.json; BadInput when it is damaged."""
    path = run_dir / store.RESULTS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise BadInput(f"{path} cannot be read as JSON ({e})") from None
    if not isinstance(data, dict) or "valid" not in data:
        raise BadInput(f"{path} records no verdict (no 'valid' field)")
    return data["valid"]


def rejudge_store(root: str | os.PathLike,
                  progress: Callable[[int, int, Path], None] | None = None) -> StoreVerdicts:
    """Judge every run under ``root`` again; ``progress(i, n, run_dir)`` is called before the
    i-th of the n runs (1-based). BadInput when ``root`` holds no run, or no run that
    recorded a verdict."""
    runs = find_runs(root)
    if not runs:
        raise BadInput(f"{root} holds no splitbrain run (no directory with a {store.TEST_FILE} "
                       f"below it); pass a store such as store/ or a run such as store/latest")
    found = StoreVerdicts(Path(root))
    for i, run_dir in enumerate(runs, 1):
        if progress is not None:
            progress(i, len(runs), run_dir)
        if not (run_dir / store.RESULTS_FILE).exists():
            found.never_checked.append(run_dir)
            continue
        try:
            recorded = _recorded(run_dir)
            test, result = recheck(run_dir)
        except (BadInput, HistoryError) as e:
            found.unreadable.append((run_dir, str(e)))
            continue
        found.judged.append(Rejudged(run_dir, test, recorded, result))
    if not found.judged and not found.unreadable:
        raise BadInput(f"{root} holds {len(runs)} runs but none recorded a verdict (no "
                       f"{store.RESULTS_FILE}: the tester failed during each), so there is "
                       f"nothing to judge again")
    return found
