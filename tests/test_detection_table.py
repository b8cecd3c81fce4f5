"""``splitbrain calibrate --table``: the markdown of docs/detection.md from finished
calibration.json files, one pass per file."""

from __future__ import annotations

import json

import pytest

from splitbrain.cli import main
from splitbrain.db import bugs as B
from splitbrain.harness.calibrate import Plan, Row, summarize
from splitbrain.harness.store import write_json


# Catalogue runs change as faults are added; the table shows what each record says.
RUNS = {B.LWW_NO_TIEBREAK: "splitbrain test --mode lww --workload register --nemesis none",
        B.SLOPPY_QUORUM_R1W1: "splitbrain test --mode lww --workload register --nemesis none "
                              "--expect no-stale-reads --bug sloppy-quorum-r1w1"}


def _pass(path, plan: Plan, rows: list[Row]) -> str:
    record = summarize(plan, rows)
    for name, bug in record["bugs"].items():
        bug["command"] = RUNS[name]
    write_json(path, record)
    return str(path)


def _table(capsys, *args: str) -> str:
    main(["calibrate", *args])  # returns: exit 0
    out, err = capsys.readouterr()
    assert not err, err
    return out


def test_each_file_is_a_pass_with_a_row_per_bug_and_per_mode(tmp_path, capsys):
    a = _pass(tmp_path / "a.json", Plan(bugs=[B.LWW_NO_TIEBREAK, B.SLOPPY_QUORUM_R1W1], seeds=3,
                                        clean=0, time_limit=30), [
        Row(B.LWW_NO_TIEBREAK, "lww", 1, "c", verdict="INVALID", first_anomaly_s=3.0,
            checker="lww", anomaly="not-highest-timestamp"),
        Row(B.LWW_NO_TIEBREAK, "lww", 2, "c", verdict="valid"),
        Row(B.LWW_NO_TIEBREAK, "lww", 3, "c", verdict="INVALID", first_anomaly_s=5.0,
            checker="lww", anomaly="not-highest-timestamp"),
        Row(B.SLOPPY_QUORUM_R1W1, "lww", 1, "c", error="the cluster did not start"),
        Row(B.SLOPPY_QUORUM_R1W1, "lww", 2, "c", verdict="INVALID", first_anomaly_s=0.4,
            checker="staleness", anomaly="stale-read"),
        Row(B.SLOPPY_QUORUM_R1W1, "lww", 3, "c", verdict="INVALID", first_anomaly_s=1.0,
            checker="staleness", anomaly="stale-read")])
    b = _pass(tmp_path / "b.json", Plan(bugs=[B.LWW_NO_TIEBREAK], seeds=1, clean=2, seed=7), [
        Row(B.LWW_NO_TIEBREAK, "lww", 7, "c", verdict="INVALID", first_anomaly_s=2.5,
            checker="lww", anomaly="not-highest-timestamp"),
        Row("clean", "lww", 7, "splitbrain test --mode lww --nemesis kill --seed 7 --store s",
            verdict="INVALID", first_anomaly_s=12.25, checker="set", anomaly="lost",
            run_dir="/s/run1")])
    out = _table(capsys, "--table", a, "--table", b)
    assert f"- **A**: `{a}`: 2 bugs × 3 seeds (seeds 1–3) and 0 clean runs per mode; 30" in out
    assert f"- **B**: `{b}`: 1 bug × 1 seeds (seeds 7–7) and 2 clean runs per mode" in out
    assert "**Partial: 2 of its 3 runs recorded**" in out  # pass B's second clean run is absent
    assert out.count("**Partial") == 1
    rows = [line for line in out.splitlines() if line.startswith("| `")]
    assert rows == [
        "| `lww-no-tiebreak` | lww | register; none | A | 2/3 | 4.0 | "
        "lww: not-highest-timestamp ×2 | seed 2: valid |",
        "| `lww-no-tiebreak` | lww | register; none | B | 1/1 | 2.5 | "
        "lww: not-highest-timestamp ×1 |  |",
        "| `sloppy-quorum-r1w1` | lww | register; none --expect no-stale-reads | A | 2/3 | 0.7 "
        "| staleness: stale-read ×2 | seed 1: not finished (the cluster did not start) |"]
    [clean] = [line for line in out.splitlines() if line.startswith("| lww |")]
    assert clean == ("| lww | B | 1 | 0 | false alarm, seed 7: set: lost at 12.2 s "
                     "(`splitbrain test --mode lww --nemesis kill --seed 7`; run `/s/run1`) |")


def test_bad_files_and_run_options_with_table_are_one_sentence_and_254(tmp_path, capsys):
    (tmp_path / "not.json").write_text("{")
    (tmp_path / "other.json").write_text(json.dumps({"plan": {}}))
    for args, says in [(["--table", str(tmp_path / "absent.json")], "cannot read"),
                       (["--table", str(tmp_path / "not.json")], "is not valid JSON"),
                       (["--table", str(tmp_path / "other.json")], "is not a calibration record"),
                       (["--table", str(tmp_path / "other.json"), "--seeds", "2", "--bug",
                         B.LWW_NO_TIEBREAK], "so --bug, --seeds would be ignored")]:
        with pytest.raises(SystemExit) as e:
            main(["calibrate", *args])
        err = capsys.readouterr().err
        assert e.value.code == 254 and says in err and "Traceback" not in err, err
        assert len(err.strip().splitlines()) == 1, err


def test_a_simulated_calibration_gets_its_own_legend_and_tables(tmp_path, capsys):
    runs = [{"seed": 1, "verdict": "valid", "cpu_s": 0.5},
            {"seed": 2, "verdict": "INVALID", "cpu_s": 0.7, "checker": "set", "anomaly": "lost"}]
    sim = {"kind": "sim", "passed": False,
           "plan": {"bugs": [B.HANDOFF_DROPS_HINTS], "seeds": 2, "clean": 1, "seed": 1,
                    "ops": None},
           "bugs": {B.HANDOFF_DROPS_HINTS: {
               "mode": "dynamo", "seeds": 2, "caught": 1, "caught_by": {"set: lost": 1},
               "cpu_to_first_catch_s": 1.2, "runs": runs,
               "sim_run": {"workload": "set", "nemesis": "flap-owners"}}},
           "modes": {"dynamo": {"clean_runs": 1, "passed": 1, "false_alarms": [],
                                "other_failures": []}}}
    path = tmp_path / "calibration.json"
    write_json(path, {"sim": sim, "passed": False})
    out = _table(capsys, "--table", str(path))
    assert (f"- **A** (simulated): `{path}`: 1 bug × 2 seeds (seeds 1–2) and 1 clean seeds "
            f"per mode; each bug's own seed length") in out
    assert ("| `handoff-drops-hints` | dynamo | set; flap-owners | A | 1/2 | 1.2 | "
            "set: lost ×1 | 0.60 |") in out
    assert "| dynamo | A | 1 | 1 |  |" in out
