"""``calibration.html``: the page ``splitbrain calibrate`` writes beside ``calibration.json``,
one row per bug (seeds caught, median time to the first violation, what caught it, links to
its runs) and one per mode (clean runs, false alarms with links)."""

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


def render_calibration(record: dict[str, Any], page: Path) -> str:
    """The calibration page for ``record`` (what :func:`~splitbrain.harness.calibrate.summarize`
    returns) to be written at ``page``."""
    bugs = [{"name": name, **b, "runs": [_link(r, page) for r in b["runs"]]}
            for name, b in record["bugs"].items()]
    modes = [{"name": name, **m,
              "failures": [_link(r, page) for r in m["false_alarms"] + m["other_failures"]]}
             for name, m in record["modes"].items()]
    return environment().get_template("calibration.html.j2").render(
        plan=record["plan"], bugs=bugs, modes=modes, passed=record["passed"])


def write_calibration_report(record: dict[str, Any], page: Path) -> Path:
    """Write the calibration page at ``page``; returns it."""
    page.write_text(render_calibration(record, page), encoding="utf-8")
    return page
