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
    params = {k: v for k, v in ctx.params.items() if k != "test_count"}
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


def stored_run(tmp_path, mode="dynamodb", workload="register"):
    """A run directory as run_test leaves it, made with the in-memory cluster."""
    from splitbrain.workloads import make

    opts = TestOptions(mode=mode, workload=workload, seed=1, store=str(tmp_path))
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
        main(["check", str(tmp_path)])
    assert e.value.code == 254
    assert "not a splitbrain run directory" in capsys.readouterr().err
