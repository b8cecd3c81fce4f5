"""One short run of `splitbrain test`, for the tests starting real clusters (each test has a
registry of its own: conftest.py's autouse ``own_registry``), and what every run directory
must hold."""

from __future__ import annotations

import json
from typing import Any

from splitbrain.harness.store import load_history
from splitbrain.harness.testrun import Outcome, TestOptions, run_test
from splitbrain.history import History


def short_run(tmp_path, **opts: Any) -> tuple[Outcome, History]:
    """``splitbrain test`` with ``opts`` (TestOptions fields), its store under ``tmp_path``,
    without the live display; checks its run directory and returns the outcome and the run's
    history."""
    outcome = run_test(TestOptions(store=str(tmp_path / "store"), **opts), live=False)
    check_run_dir(outcome)
    return outcome, load_history(outcome.run_dir)


def check_run_dir(outcome: Outcome) -> None:
    """The run directory holds what README and DESIGN.md promise: test.json (with the network,
    the cluster and the reproducing command), history.jsonl, results.json (the verdict
    returned), report.html, junit.xml, every node's log; and ``<store>/latest`` points at it."""
    run = outcome.run_dir
    for name in ("test.json", "history.jsonl", "results.json", "report.html", "junit.xml"):
        assert (run / name).is_file(), f"the run directory {run} has no {name}"
    test = json.loads((run / "test.json").read_text())
    assert test["net"] in ("proxy", "netns", "firewall") and test["cluster"]["nodes"], test
    assert test["command"].startswith("splitbrain test ") and f"--seed {test['seed']}" in \
        test["command"], test["command"]
    logs = {p.name for p in (run / "nodes").glob("*.log")}
    assert {f"{n}.log" for n in test["nodes"]} <= logs, f"node logs missing: {sorted(logs)}"
    assert json.loads((run / "results.json").read_text())["valid"] == outcome.result.valid
    assert outcome.report == run / "report.html"
    assert (run.parent.parent / "latest").resolve() == run.resolve()
