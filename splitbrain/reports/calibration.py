"""``calibration.html``: the page ``splitbrain calibrate`` writes beside ``calibration.json``,
one row per bug (seeds caught, median time to the first violation, what caught it, links to
its runs) and one per mode (clean runs, false alarms with links), for the real runs, the
simulated seeds (``--sim``: with the fraction caught and the CPU seconds to the first catch),
or both, one section each."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from splitbrain.reports.html import environment


def _link(run: dict[str, Any], page: Path) -> dict[str, Any]:
    """A run of the record, with ``href`` to its report relative to the page."""
    href = os.path.relpath(Path(run["run_dir"]) / "report.html", page.parent) \
        if run.get("run_dir") else ""
    return {**run, "href": href}


def _section(record: dict[str, Any], page: Path) -> dict[str, Any]:
    """One world's part of a record (real or sim), its runs linked relative to ``page``."""
    bugs = [{"name": name, **b, "runs": [_link(r, page) for r in b["runs"]]}
            for name, b in record["bugs"].items()]
    modes = [{"name": name, **m,
              "failures": [_link(r, page) for r in m["false_alarms"] + m["other_failures"]]}
             for name, m in record["modes"].items()]
    return {"plan": record["plan"], "bugs": bugs, "modes": modes, "passed": record["passed"]}


def render_calibration(record: dict[str, Any], page: Path) -> str:
    """The calibration page for ``record`` (what :func:`~splitbrain.harness.calibrate.with_sim`
    returns: a real calibration, a simulated one under ``sim``, or both) to be written at
    ``page``."""
    real = _section(record, page) if "bugs" in record else None
    sim = _section(record["sim"], page) if record.get("sim") else None
    return environment().get_template("calibration.html.j2").render(
        real=real, sim=sim, passed=record["passed"])


def write_calibration_report(record: dict[str, Any], page: Path) -> Path:
    """Write the calibration page at ``page``; returns it."""
    page.write_text(render_calibration(record, page), encoding="utf-8")
    return page
