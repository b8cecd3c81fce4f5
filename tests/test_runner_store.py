"""The store layout, test.json's reproducing command, and re-checking a stored run."""

from __future__ import annotations

import asyncio
import functools
import json
import shlex
from dataclasses import asdict

import pytest

from fake_cluster import FakeClient, FakeCluster, FakeStore
from report_samples import small_run
from splitbrain.cli import cli
from splitbrain.errors import BadInput
from splitbrain.harness import store
from splitbrain.harness.runner import Runner
from splitbrain.harness.testrun import TestOptions, recheck, summary
from splitbrain.checkers.result import Result


def test_run_dirs_are_unique_and_latest_points_at_the_newest(tmp_path):
    a = store.new_run_dir(tmp_path, "dynamo-set-none", now=0)
    b = store.new_run_dir(tmp_path, "dynamo-set-none", now=0)
    assert a != b and a.parent == b.parent == tmp_path / "dynamo-set-none"
    assert a.name.startswith("1970") and b.name == a.name + "-2"
    assert (a / "nodes").is_dir()
    assert (tmp_path / "latest").resolve() == b.resolve()
    c = store.new_run_dir(tmp_path, "lww-register-clock")
    assert (tmp_path / "latest").resolve() == c.resolve()


def test_the_recorded_command_reproduces_every_option():
    opts = TestOptions(mode="lww", workload="set", nemesis="clock,partition", time_limit=12,
                       seed=42, expect=("no-lost-writes", "monotonic-reads"))
    args = shlex.split(opts.command())
    assert args[:2] == ["splitbrain", "test"] and "--seed" in args
    assert "--expect no-lost-writes --expect monotonic-reads" in opts.command()
    ctx = cli.commands["test"].make_context("test", args[2:])
    per_command = {"test_count", "fail_fast", "summary_md", "step_summary"}  # not per run
    params = {k: v for k, v in ctx.params.items() if k not in per_command}
    assert asdict(TestOptions(**params)) == asdict(opts)
    assert opts.name == "lww-set-clock+partition"


def test_the_recorded_command_does_not_leave_a_cluster_running():
    assert "--leave-running" not in TestOptions(seed=1, leave_running=True).command()


def test_recheck_applies_the_expectations_the_run_recorded(tmp_path):
    run = small_run(tmp_path / "run")  # lww register: one lost write, no final reads
    flat = json.loads((run / "test.json").read_text())
    for expect, valid in (((), "unknown"), (("no-lost-writes",), False)):
        (run / "test.json").write_text(json.dumps({"name": flat["name"],
                                                   "options": {**flat, "expect": expect}}))
        _, result = recheck(run)
        assert result.valid == valid, (expect, result.reason)
    assert any(a["type"] == "lost-write" and a.get("severity") == "violation"
               for a in result.anomalies), "the expectation makes the lost write a violation"


@pytest.mark.parametrize("bad, message", [
    (dict(mode="cassandra"), "--mode 'cassandra' is not a mode"),
    (dict(rate=0), "--rate must be a positive"),
    (dict(nemesis="partition,flood"), "unknown nemesis 'flood'"),
    (dict(net="wifi"), "--net 'wifi' is not a network"),
])
def test_bad_options_are_one_sentence(bad, message):
    with pytest.raises(BadInput, match=message):
        TestOptions(**bad).validate()


def test_an_unwritable_store_is_bad_input(tmp_path):
    from splitbrain.harness.testrun import run_test

    (tmp_path / "file").write_text("")
    with pytest.raises(BadInput, match="cannot create a run directory under"):
        run_test(TestOptions(store=str(tmp_path / "file" / "store")))


def stored_run(tmp_path, mode="dynamodb", workload="register", expect=()):
    """A run directory as run_test leaves it, made with the in-memory cluster."""
    from splitbrain.workloads import make

    opts = TestOptions(mode=mode, workload=workload, seed=1, store=str(tmp_path), expect=expect)
    run_dir = store.new_run_dir(tmp_path, opts.name)
    store.write_json(run_dir / store.TEST_FILE, {"name": opts.name, "options": asdict(opts)})
    cluster, fake = FakeCluster(3), FakeStore(mode)
    r = Runner(make(workload, mode), cluster.running(), run_dir / store.HISTORY_FILE,
               concurrency=3, rate=300, time_limit=0.3, recovery=0, seed=1,
               client_factory=functools.partial(FakeClient, fake))
    asyncio.run(r.run())
    return run_dir


def test_recheck_judges_a_stored_run_from_its_files(tmp_path):
    run_dir = stored_run(tmp_path)
    test, result = recheck(run_dir)
    assert test["options"]["mode"] == "dynamodb"
    assert result.checker == "verdict" and result.valid is True   # the fake is linearizable
    assert result.details["results"]["linearizable"]["stats"]
    assert len(store.load_history(run_dir)) > 20


def test_recheck_refuses_a_directory_that_is_not_a_run(tmp_path):
    with pytest.raises(BadInput, match="is not a splitbrain run directory"):
        recheck(tmp_path)
    (tmp_path / "test.json").write_text("{not json")
    with pytest.raises(BadInput, match="cannot be read as JSON"):
        recheck(tmp_path)


def test_summary_separates_violations_from_permitted_anomalies():
    from splitbrain.checkers import policy

    lost = {"type": "lost-write", "ops": [1, 2], "explanation": "x"}
    invented = {"type": "invented-value", "ops": [3], "explanation": "y"}
    r = policy.verdict("lww", {"lww": Result(False, anomalies=[lost, lost]),
                               "reads": Result(False, anomalies=[invented]),
                               "staleness": Result("unknown", reason="out of time"),
                               "availability": Result(True, stats={"by_fault": {
                                   "none": {"ok_fraction": 0.9, "available": 0.99},
                                   "partition": {"ok_fraction": 0.4, "available": 0.5}}})})
    lines = summary(r)
    assert lines[0].split()[:2] == ["lww", "valid"] and "2 lost-write permitted" in lines[0]
    assert lines[1].split()[:2] == ["reads", "INVALID"] and "1 invented-value" in lines[1]
    assert "unknown" in lines[2] and "out of time" in lines[2]
    assert lines[3].split()[:2] == ["availability", "valid"]
    assert "available none 99%, partition 50%" in lines[3]
    assert lines[-1].startswith("verdict: INVALID")
    assert json.loads(json.dumps(r.to_dict()))["valid"] is False


def test_splitbrain_check_rejudges_a_run_directory(tmp_path, capsys):
    from splitbrain.cli import main

    run_dir = stored_run(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(["check", str(run_dir)])
    out = capsys.readouterr().out
    assert e.value.code == 0 and "linearizable" in out and "verdict: valid" in out
    with pytest.raises(SystemExit) as e:
        main(["check", str(run_dir / "nodes")])    # a folder of the run, holding no run
    assert e.value.code == 254
    assert "holds no splitbrain run" in capsys.readouterr().err


def test_summary_line_of_a_checker_that_failed_the_run_is_never_valid():
    # Review tests-2026-11-30 item 3: the strong lapse is counted past the one listed anomaly,
    # and a linearizability False lists no anomaly; both failed the run.
    from splitbrain.checkers import policy
    from test_checkers_policy import session_lapses_listing_only_the_eventual_one

    v = policy.verdict("dynamodb", {"session": session_lapses_listing_only_the_eventual_one(),
                                    "linearizable": Result(False, checker="linearizable")},
                       workload="register")
    lines = summary(v)
    [session_line] = [ln for ln in lines if ln.split()[0] == "session"]
    [lin_line] = [ln for ln in lines if ln.split()[0] == "linearizable"]
    assert session_line.split()[1] == "INVALID"
    assert "1 read-your-writes;" in session_line and "1 read-your-writes permitted" in session_line
    assert lin_line.split()[1] == "INVALID"
    assert "  violated: strong reads and conditional writes are linearizable" in lines
    assert lines[-1].startswith("verdict: INVALID")
    # Where linearizability is no promise (lww), the report still shows a checker that failed
    # naming no anomaly as invalid; so does the line.
    lww = policy.verdict("lww", {"linearizable": Result(False, checker="linearizable")})
    assert [ln.split()[:2] for ln in summary(lww)][0] == ["linearizable", "INVALID"]


def test_summary_prints_true_counts_past_the_listed_anomalies():
    from splitbrain.checkers import policy
    from splitbrain.checkers.anomalies import AnomalyLog

    log = AnomalyLog()
    for i in range(1222):
        log.add("stale-read", [i], "x", consistency="eventual")
    res = Result(True, log.items, log.stats(), checker="staleness")
    assert len(res.anomalies) == 1000
    v = policy.verdict("lww", {"staleness": res}, workload="register")
    [line] = [ln for ln in summary(v) if ln.split()[0] == "staleness"]
    assert "1,222 stale-read permitted" in line
    assert v.details["counts"]["staleness"]["permitted"] == {"stale-read": 1222}


def test_summary_says_which_promises_were_not_checked():
    from splitbrain.checkers import policy

    v = policy.verdict("dynamo", {"set": Result(True, checker="set")}, workload="set")
    lines = summary(v)
    assert ("  not checked: siblings are only ever concurrent writes (no checker of the set "
            "workload judges it; the register workload checks it)") in lines
    assert "  no violation found: replicas converge after healing" in lines


def test_an_expectation_no_checker_of_the_run_judges_is_refused_before_it_starts(tmp_path, capsys):
    from splitbrain.cli import main

    with pytest.raises(SystemExit) as e:
        main(["test", "--mode", "dynamo", "--workload", "set", "--expect", "read-your-writes",
              "--store", str(tmp_path)])
    assert e.value.code == 254
    assert capsys.readouterr().err.strip() == (
        "splitbrain: --expect read-your-writes cannot be checked by a set run in dynamo mode (no "
        "checker of the set workload judges it; the register workload checks it); drop it or "
        "run that workload")
    assert not any(tmp_path.iterdir()), "no run directory for a refused run"
    TestOptions(mode="lww", workload="counter", expect=("no-lost-writes",)).validate()


def test_recheck_judges_the_recorded_expectations_or_says_nothing_did(tmp_path):
    # Review tests-2026-11-30 section 1: --expect in command() and recheck was never exercised.
    run_dir = stored_run(tmp_path / "a", expect=("no-lost-writes", "monotonic-reads"))
    test, result = recheck(run_dir)
    args = shlex.split(TestOptions(**{**test["options"], "expect": tuple(
        test["options"]["expect"])}).command())
    assert args[args.index("--expect") + 1] == "no-lost-writes" and args.count("--expect") == 2
    assert result.valid is True
    assert {e["name"]: (e["state"], e["checkers"]) for e in result.details["expectations"]} == {
        "no-lost-writes": ("no violation found", ["convergence"]),
        "monotonic-reads": ("no violation found", ["session"])}
    # A stored set run expecting what no set checker judges (test.json edited, or older than
    # the refusal at start): the re-check is unknown, and says why.
    run_dir = stored_run(tmp_path / "b", workload="set", expect=("read-your-writes",))
    _, result = recheck(run_dir)
    assert result.valid == "unknown"
    assert result.reason == ("--expect read-your-writes is not checked: no checker of the set "
                             "workload judges it; the register workload checks it")
