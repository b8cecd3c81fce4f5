"""One short run of `splitbrain test`, for the tests starting real clusters (each test has a
registry of its own: conftest.py's autouse ``own_registry``)."""

from __future__ import annotations

from typing import Any

from splitbrain.harness.store import load_history
from splitbrain.harness.testrun import Outcome, TestOptions, run_test
from splitbrain.history import History


def short_run(tmp_path, **opts: Any) -> tuple[Outcome, History]:
    """``splitbrain test`` with ``opts`` (TestOptions fields), its store under ``tmp_path``,
    without the live display; returns the outcome and the run's history."""
    outcome = run_test(TestOptions(store=str(tmp_path / "store"), **opts), live=False)
    return outcome, load_history(outcome.run_dir)
