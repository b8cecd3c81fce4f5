"""Reports a person reads (DESIGN.md "Store"): ``report.html`` (one self-contained page per run),
``junit.xml`` (one test case per checker) and the browser of past runs (``splitbrain serve``).

Entry points:

* :func:`write_run_report` rebuilds ``report.html`` and ``junit.xml`` inside a run directory
  (the harness calls it after checking; ``splitbrain report RUN_DIR`` too);
* :func:`write_history_report` writes a report for an offline history, and
  :func:`write_check_report` one for whatever ``splitbrain check FILE|RUN_DIR --report out.html``
  checked.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from splitbrain.checkers.result import Result
from splitbrain.errors import BadInput
from splitbrain.history import History
from splitbrain.importers import load
from splitbrain.reports import html, junit
from splitbrain.reports.run import Link, load_run, offline_run, sane_result


def _write(path: Path, text: str) -> None:
    """Write atomically (a reader, or a crash, sees the old file or the new one), creating the
    directory; BadInput when the place cannot be written."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise BadInput(f"cannot write {path} ({e.strerror}); choose a writable place for the "
                       f"report.") from None


def write_run_report(run_dir: str | os.PathLike) -> Path:
    """Write ``junit.xml`` and ``report.html`` into a stored run; returns the report's path.
    Raises BadInput (or HistoryError) when the directory is not a readable run."""
    d = Path(run_dir)
    run = load_run(d)
    name = str(html.test_options(run.test).get("name") or d.parent.name)
    _write(d / "junit.xml", junit.render(
        run.checker_results, suite=name,
        verdicts={n: run.checker_valid(n) for n in run.checker_results}))
    if "junit.xml" not in {f.name for f in run.files}:
        run.files.append(Link("junit.xml", "./junit.xml"))
    _write(d / "report.html", html.render(run, title=name))
    return d / "report.html"


def write_history_report(history: History, result: Result | dict[str, Any],
                         out: str | os.PathLike, *, source: str | os.PathLike) -> Path:
    """Write a report for a history checked offline; ``source`` is the history file, linked
    from the report. Returns ``out``."""
    results = result.to_dict() if isinstance(result, Result) else result
    path = Path(out)
    run = offline_run(history, results, source=source, report_path=path)
    _write(path, html.render(run, title=f"offline check of {Path(source).name}"))
    return path


def write_check_report(source: str | os.PathLike, result: Result, out: str | os.PathLike, *,
                       fmt: str = "auto") -> Path:
    """``splitbrain check SOURCE --report OUT``: the report of ``result`` for a history file
    (any format the importers read) or for a run directory re-judged, written to ``out`` with
    its links pointing back at the source's files. Returns ``out``."""
    path = Path(out)
    if not Path(source).is_dir():
        return write_history_report(load(source, fmt)[0], result, path, source=source)
    run = load_run(source, report_at=path)
    run.results = sane_result(result.to_dict())
    name = str(html.test_options(run.test).get("name") or Path(source).name)
    _write(path, html.render(run, title=f"{name} (checked again)"))
    return path


__all__ = ["write_run_report", "write_history_report", "write_check_report"]
