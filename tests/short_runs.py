"""What the tests starting real clusters share: a registry of their own per test (import
``own_registry`` into the test module; it is autouse), and one short run of `splitbrain test`."""

from __future__ import annotations

from typing import Any

import pytest

from splitbrain.harness.store import load_history
from splitbrain.harness.testrun import Outcome, TestOptions, run_test
from splitbrain.history import History


@pytest.fixture(autouse=True)
def own_registry(tmp_path, monkeypatch):
    monkeypatch.setenv("SPLITBRAIN_REGISTRY", str(tmp_path / "registry"))


def short_run(tmp_path, **opts: Any) -> tuple[Outcome, History]:
    """``splitbrain test`` with ``opts`` (TestOptions fields), its store under ``tmp_path``,
    without the live display; returns the outcome and the run's history."""
    outcome = run_test(TestOptions(store=str(tmp_path / "store"), **opts), live=False)
    return outcome, load_history(outcome.run_dir)
