"""splitbrain calibrate --sim: the seeds it plans, how it counts the CPU to the first catch, the
page with both worlds, and two bugs end to end in this process on virtual time."""

from __future__ import annotations

import json
import re

import pytest

from splitbrain.cli import main
from splitbrain.db import bugs as B
from splitbrain.harness.calibrate import Plan, Row, summarize, with_sim
from splitbrain.reports.calibration import render_calibration
from splitbrain.sim.calibrate import SimPlan, summarize_sim
from splitbrain.sim.run import SimOptions
from splitbrain.sim.command import validate


def test_the_sim_plan_runs_each_bug_per_seed_then_clean_seeds_per_mode():
    plan = SimPlan(bugs=[B.SLOPPY_QUORUM_R1W1, B.READ_WITHOUT_LEASE], seeds=2, clean=3,
                   seed=10, ops=50)
    jobs = plan.runs()
    assert [(n, s, o.bug) for n, o, s in jobs[:4]] == [
        (B.SLOPPY_QUORUM_R1W1, 10, (B.SLOPPY_QUORUM_R1W1,)),
        (B.SLOPPY_QUORUM_R1W1, 11, (B.SLOPPY_QUORUM_R1W1,)),
        (B.READ_WITHOUT_LEASE, 10, (B.READ_WITHOUT_LEASE,)),
        (B.READ_WITHOUT_LEASE, 11, (B.READ_WITHOUT_LEASE,))]
    sloppy = jobs[0][1]
    run = B.CATALOGUE[B.SLOPPY_QUORUM_R1W1].run
    assert (sloppy.mode, sloppy.workload, sloppy.nemesis, sloppy.expect, sloppy.ops) == (
        run["mode"], run["workload"], run["nemesis"], tuple(run.get("expect", ())), 50)
    assert [(n, o.mode, o.bug, s) for n, o, s in jobs[4:]] == \
        [("clean", "lww", (), s) for s in (10, 11, 12)] + \
        [("clean", "dynamodb", (), s) for s in (10, 11, 12)]
    assert {o.nemesis_interval for _, o, _ in jobs} == {None}  # each seed draws its pace
    paced = SimPlan(bugs=[B.READ_WITHOUT_LEASE], seeds=1, clean=1, nemesis_interval=4.0)
    assert {o.nemesis_interval for _, o, _ in paced.runs()} == {4.0}


@pytest.mark.parametrize("name", list(B.CATALOGUE))
def test_every_catalogue_run_is_a_run_the_simulator_accepts(name):
    validate(SimOptions.of_bug(B.CATALOGUE[name], 10), 1)


def _row(seed: int, cpu: float, caught: bool, bug: str = B.LWW_NO_TIEBREAK) -> Row:
    return Row(bug, "lww", seed, f"sim {seed}", verdict="INVALID" if caught else "valid",
               kind="sim", cpu_s=cpu, checker="lww" if caught else "",
               anomaly="not-highest-timestamp" if caught else "")


def test_the_cpu_to_the_first_catch_sums_every_seed_up_to_it_in_seed_order():
    plan = SimPlan(bugs=[B.LWW_NO_TIEBREAK, B.SLOPPY_QUORUM_R1W1], seeds=3, clean=1)
    rows = [_row(3, 4.0, True), _row(1, 1.0, False), _row(2, 2.0, True),
            *(_row(s, 1.0, False, B.SLOPPY_QUORUM_R1W1) for s in (1, 2, 3)),
            Row("clean", "lww", 1, "c", verdict="valid", kind="sim", cpu_s=1.0)]
    record = summarize_sim(plan, rows)
    assert record["kind"] == "sim" and not record["passed"]
    tie = record["bugs"][B.LWW_NO_TIEBREAK]
    assert (tie["caught"], tie["fraction"], tie["first_catch_seed"],
            tie["cpu_to_first_catch_s"]) == (2, 0.667, 2, 3.0)
    assert tie["caught_by"] == {"lww: not-highest-timestamp": 2}
    # sim --bug takes the options it leaves out from the bug's catalogue run
    assert tie["command"] == f"splitbrain sim --bug {B.LWW_NO_TIEBREAK} --seeds 1..3"
    sloppy = record["bugs"][B.SLOPPY_QUORUM_R1W1]
    assert sloppy["caught"] == 0 and sloppy["cpu_to_first_catch_s"] is None
    assert sloppy["sim_run"]["expect"] == list(B.CATALOGUE[B.SLOPPY_QUORUM_R1W1].run.get("expect", ()))


def test_the_page_shows_each_world_that_ran_and_passes_only_when_both_did(tmp_path):
    real = summarize(Plan(bugs=[B.LWW_NO_TIEBREAK], seeds=1, clean=0),
                     [Row(B.LWW_NO_TIEBREAK, "lww", 1, "test", verdict="INVALID")])
    sim = summarize_sim(SimPlan(bugs=[B.LWW_NO_TIEBREAK], seeds=1, clean=0),
                        [_row(1, 0.5, False)])
    both = with_sim(real, sim)
    assert real["passed"] and not sim["passed"] and not both["passed"]
    assert both["bugs"] == real["bugs"] and both["sim"] is sim
    page = render_calibration(both, tmp_path / "calibration.html")
    assert "FAILED" in page and "<h2>Real runs</h2>" in page and "<h2>Simulation</h2>" in page
    only_sim = render_calibration(with_sim(None, sim), tmp_path / "calibration.html")
    assert "Real runs" not in only_sim and "CPU s to first catch" in only_sim


def test_two_bugs_calibrated_in_the_simulator_end_to_end(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["calibrate", "--sim", "--bug", B.ADD_AS_READ_MODIFY_WRITE, "--bug",
              B.LWW_NO_TIEBREAK, "--seeds", "2", "--clean", "1", "--ops", "80", "--jobs", "1",
              "--store", str(tmp_path)])
    out = capsys.readouterr().out
    assert e.value.code == 0, out
    assert "simulated:" in out and "calibration: passed" in out
    [where] = (tmp_path / "calibration").iterdir()
    record = json.loads((where / "calibration.json").read_text())
    assert set(record) == {"sim", "passed"}
    sim = record["sim"]
    for name in (B.ADD_AS_READ_MODIFY_WRITE, B.LWW_NO_TIEBREAK):
        bug = sim["bugs"][name]
        assert bug["caught"] == bug["seeds"] == 2 and bug["cpu_to_first_catch_s"] > 0
        assert all(r["kind"] == "sim" and r["cpu_s"] > 0 for r in bug["runs"])
        stored = [r["run_dir"] for r in bug["runs"] if r["run_dir"]]
        assert len(stored) == 1  # the first catch only
        assert json.loads((tmp_path / stored[0] / "test.json").read_text())["options"][
            "bug"] == [name]
    assert sim["modes"]["lww"]["passed"] == sim["modes"]["dynamodb"]["passed"] == 1
    page = (where / "calibration.html").read_text()
    for href in re.findall(r'href="([^"]+)"', page):
        assert (where / href).resolve().is_file(), href
