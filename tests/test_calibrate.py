"""splitbrain calibrate: the plan it runs, how it reads a verdict, and two bugs end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from splitbrain.checkers.result import Result
from splitbrain.cli import main
from splitbrain.db import bugs as B
from splitbrain.errors import BadInput
from splitbrain.harness.calibrate import Plan, Row, choose, first_violation, summarize
from splitbrain.history import Event, History


def test_the_plan_runs_each_bug_per_seed_then_clean_runs_per_mode():
    plan = Plan(bugs=[B.SLOPPY_QUORUM_R1W1, B.READ_WITHOUT_LEASE], seeds=2, clean=3, seed=10,
                time_limit=7, recovery=12)
    runs = plan.runs()
    assert [(n, o.seed, o.bug) for n, o in runs[:4]] == [
        (B.SLOPPY_QUORUM_R1W1, 10, (B.SLOPPY_QUORUM_R1W1,)),
        (B.SLOPPY_QUORUM_R1W1, 11, (B.SLOPPY_QUORUM_R1W1,)),
        (B.READ_WITHOUT_LEASE, 10, (B.READ_WITHOUT_LEASE,)),
        (B.READ_WITHOUT_LEASE, 11, (B.READ_WITHOUT_LEASE,))]
    assert runs[0][1].nemesis == "partition" and runs[0][1].mode == "lww"
    clean = runs[4:]
    assert [(n, o.mode, o.bug) for n, o in clean] == [("clean", "lww", ())] * 3 + \
        [("clean", "dynamodb", ())] * 3
    assert all(o.time_limit == 7 and o.recovery == 12 for _, o in runs)
    assert len({(o.workload, o.nemesis) for _, o in clean if o.mode == "dynamodb"}) == 3


def test_choose_takes_all_or_named_bugs_and_refuses_unknown_ones():
    assert choose(()) == choose(["all"]) == list(B.CATALOGUE)
    assert choose([B.LWW_NO_TIEBREAK, B.LWW_NO_TIEBREAK]) == [B.LWW_NO_TIEBREAK]
    with pytest.raises(BadInput, match="no planted bug is named 'x'"):
        choose(["x"])


def test_the_first_violation_is_the_one_whose_earliest_op_came_first():
    history = History([Event("invoke", 0, "read", time=5_000_000_000, index=0),
                       Event("invoke", 1, "read", time=2_000_000_000, index=1),
                       Event("invoke", 2, "read", time=1_000_000_000, index=2)])
    result = Result(valid=False, anomalies=[
        {"type": "stale-read", "ops": [2], "checker": "staleness", "severity": "permitted"},
        {"type": "lost", "ops": [0, 1], "checker": "set", "severity": "violation"},
        {"type": "nonlinearizable", "ops": [0], "checker": "linearizable"}])
    assert first_violation(result, history) == (2.0, "set", "lost")
    assert first_violation(Result(valid=True), history) is None


def test_the_record_passes_only_when_every_seed_caught_and_every_clean_run_valid():
    plan = Plan(bugs=[B.LWW_NO_TIEBREAK], seeds=2, clean=1)
    caught = Row(B.LWW_NO_TIEBREAK, "lww", 1, "c", verdict="INVALID", first_anomaly_s=3.0,
                 checker="lww", anomaly="not-converged")
    missed = Row(B.LWW_NO_TIEBREAK, "lww", 2, "c", verdict="valid")
    clean = Row("clean", "lww", 1, "c", verdict="valid")
    record = summarize(plan, [caught, missed, clean])
    assert record["bugs"][B.LWW_NO_TIEBREAK]["caught"] == 1 and not record["passed"]
    assert record["bugs"][B.LWW_NO_TIEBREAK]["caught_by"] == {"lww: not-converged": 1}
    caught2 = Row(B.LWW_NO_TIEBREAK, "lww", 2, "c", verdict="INVALID", first_anomaly_s=5.0)
    record = summarize(plan, [caught, caught2, clean])
    assert record["passed"] and record["bugs"][B.LWW_NO_TIEBREAK]["median_first_anomaly_s"] == 4.0
    alarm = Row("clean", "lww", 1, "c", verdict="INVALID", run_dir="/r")
    record = summarize(plan, [caught, caught2, alarm])
    assert not record["passed"] and record["modes"]["lww"]["false_alarms"][0]["run_dir"] == "/r"


@pytest.mark.integration
def test_two_bugs_end_to_end_are_caught_and_the_clean_run_passes(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["calibrate", "--bug", B.ADD_AS_READ_MODIFY_WRITE, "--bug",
              B.STRONG_READ_ANY_REPLICA, "--seeds", "1", "--clean", "1", "--time-limit", "5",
              "--nemesis-interval", "1.5", "--nodes", "3", "--store", str(tmp_path / "store")])
    out = capsys.readouterr().out
    assert e.value.code == 0, out
    assert "calibration: passed" in out
    [where] = (tmp_path / "store" / "calibration").iterdir()
    record = json.loads((where / "calibration.json").read_text())
    for name in (B.ADD_AS_READ_MODIFY_WRITE, B.STRONG_READ_ANY_REPLICA):
        bug = record["bugs"][name]
        assert bug["caught"] == bug["seeds"] == 1 and bug["median_first_anomaly_s"] >= 0
        run = Path(bug["runs"][0]["run_dir"])
        assert json.loads((run / "test.json").read_text())["options"]["bug"] == [name]
    assert record["bugs"][B.ADD_AS_READ_MODIFY_WRITE]["caught_by"] == {
        "counter: counter-lost-adds": 1}
    assert record["modes"] == {"dynamodb": {"clean_runs": 1, "passed": 1, "false_alarms": [],
                                            "other_failures": []}}
    page = (where / "calibration.html").read_text()
    assert "PASSED" in page and B.STRONG_READ_ANY_REPLICA in page
    for href in __import__("re").findall(r'href="([^"]+)"', page):
        assert (where / href).resolve().is_file(), href
