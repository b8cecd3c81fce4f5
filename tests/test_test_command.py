"""``splitbrain test`` as a command: ``--test-count`` (seeds, exit-code aggregation, a failure
mid-sequence), exit 1 on an invalid run, "report: not written", and ``--leave-running`` (the
cluster outlives the tester, the next run's reaper leaves it alone, ``cluster down`` stops it).

The command-level tests replace ``run_test`` with canned outcomes: they judge the command's
plumbing, not a cluster; the one ``--leave-running`` test runs a real one."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from in_process import cli_exit
from splitbrain import errors
from splitbrain.checkers.result import Result
from splitbrain.harness import testrun
from splitbrain.harness.cluster import stop_detached
from splitbrain.harness.process import start_time
from splitbrain.harness.testrun import Outcome, TestOptions


def canned(monkeypatch, tmp_path: Path, verdicts: list[object], *, fail_at: int | None = None,
           report_error: str | None = None) -> list[TestOptions]:
    """Make ``run_test`` return one outcome per verdict in turn (raise TesterFailure at run
    ``fail_at``); returns the options each run was given."""
    given: list[TestOptions] = []

    def fake_run_test(opts: TestOptions, *, live: bool | None = None) -> Outcome:
        given.append(TestOptions(**vars(opts)))
        n = len(given)
        if n == fail_at:
            raise errors.TesterFailure(f"node n1 would not start (run {n})")
        run_dir = tmp_path / f"run{n}"
        report = None if report_error else run_dir / "report.html"
        return Outcome(run_dir, Result(verdicts[n - 1]), {"net": "proxy"}, report, report_error)

    monkeypatch.setattr(testrun, "run_test", fake_run_test)
    return given


@pytest.mark.parametrize("verdicts,code", [
    ([True, True, True], 0),
    ([True, "unknown", True], 2),
    (["unknown", False, True], 1),  # invalid beats unknown, wherever it comes
    ([False, True, True], 1),
])
def test_test_count_runs_seed_seed_plus_1_and_exits_with_the_worst_verdict(
        monkeypatch, tmp_path, capsys, verdicts, code):
    given = canned(monkeypatch, tmp_path, verdicts)
    assert cli_exit(["test", "--test-count", "3", "--seed", "40", "--mode", "lww"]) == code
    assert [o.seed for o in given] == [40, 41, 42]
    assert all(o.mode == "lww" for o in given)
    out = capsys.readouterr().out
    assert re.findall(r"lww-register-partition\+kill, seed (\d+), proxy network", out) == \
        ["40", "41", "42"]
    words = {True: "valid", False: "INVALID", "unknown": "unknown"}
    assert re.findall(r"verdict: (\S+)", out) == [words[v] for v in verdicts]
    assert [f"run: {tmp_path / f'run{n}'}" for n in (1, 2, 3)] == \
        [line for line in out.splitlines() if line.startswith("run: ")]


def test_without_a_seed_each_run_draws_its_own(monkeypatch, tmp_path):
    given = canned(monkeypatch, tmp_path, [True, True])
    assert cli_exit(["test", "--test-count", "2"]) == 0
    assert [o.seed for o in given] == [None, None], "run_test draws a fresh seed for None"


def test_an_invalid_single_run_exits_1(monkeypatch, tmp_path, capsys):
    canned(monkeypatch, tmp_path, [False])
    assert cli_exit(["test"]) == 1
    assert "verdict: INVALID" in capsys.readouterr().out


@pytest.mark.parametrize("count", ["0", "-3"])
def test_a_test_count_below_1_is_one_sentence_exit_254(monkeypatch, tmp_path, capsys, count):
    given = canned(monkeypatch, tmp_path, [])
    assert cli_exit(["test", "--test-count", count]) == 254
    assert capsys.readouterr().err == f"splitbrain: --test-count must be at least 1, not {count}\n"
    assert given == []


@pytest.mark.parametrize("argv, message", [
    (["--keys", "0"], "--keys must be at least 1, not 0"),
    (["--request-timeout-ms", "0"], "--request-timeout-ms must be at least 1, not 0"),
    (["--db", "etcd", "--request-timeout-ms", "4000"],
     "--request-timeout-ms sets splitbrain's node's request budget, which etcd does not read"),
])
def test_bad_keys_or_request_budget_is_one_sentence_exit_254_before_any_run(
        tmp_path, capsys, argv, message):
    assert cli_exit(["test", "--store", str(tmp_path), *argv]) == 254
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_keys_and_the_request_budget_reach_the_workload_the_node_config_and_the_command(
        tmp_path):
    from splitbrain.db.config import local_config
    from splitbrain.plugins import make_workload

    opts = TestOptions(workload="set", keys=7, request_timeout_ms=4000, op_timeout=5.0, seed=3)
    opts.validate()
    assert "--keys 7 --request-timeout-ms 4000" in opts.command()
    assert make_workload(opts.workload, opts.mode, keys=opts.keys).describe()["keys"] == 7
    config = local_config(opts.mode, 3, tmp_path, **opts.cluster_params())
    assert config.request_timeout_ms == 4000
    assert local_config("dynamodb", 3, tmp_path, **TestOptions().cluster_params()
                        ).request_timeout_ms == 1000


def test_a_tester_failure_mid_sequence_stops_it_and_an_earlier_invalid_run_decides(
        monkeypatch, tmp_path, capsys):
    # The gate's contract (docs/ci.md): 1 is never retried, so a real violation found by run 1
    # outranks the tester failing in run 2 (255 alone would invite a retry).
    given = canned(monkeypatch, tmp_path, [False, True, True], fail_at=2)
    assert cli_exit(["test", "--test-count", "3", "--seed", "7"]) == 1
    out, err = capsys.readouterr()
    assert re.findall(r"verdict: (\S+)", out) == ["INVALID"]  # run 1's verdict was printed
    assert err == "splitbrain: node n1 would not start (run 2)\n"
    assert [o.seed for o in given] == [7, 8], "no run starts after the tester failed"


def test_a_report_not_written_is_said_and_the_verdict_still_decides_the_exit(
        monkeypatch, tmp_path, capsys):
    canned(monkeypatch, tmp_path, [False], report_error="OSError: No space left on device")
    assert cli_exit(["test"]) == 1
    out, err = capsys.readouterr()
    assert err == "report: not written (OSError: No space left on device)\n"
    assert "verdict: INVALID" in out and "report:" not in out


def test_a_failing_report_writer_gives_the_reason_not_an_exception(monkeypatch, tmp_path):
    def broken(run_dir):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(testrun, "write_run_report", broken)
    assert testrun._report(tmp_path) == (None, "OSError: [Errno 28] No space left on device")


@pytest.mark.integration
@pytest.mark.timeout(180)
def test_leave_running_outlives_the_tester_and_the_next_reaper_until_cluster_down(tmp_path):
    def splitbrain(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "splitbrain.cli", *args],
                              capture_output=True, text=True, timeout=timeout)

    quick = ["--mode", "dynamo", "--nodes", "3", "--time-limit", "1", "--nemesis", "none",
             "--recovery", "0", "--rate", "20"]
    left = splitbrain("test", *quick, "--store", str(tmp_path / "store"), "--leave-running")
    hint = re.search(r"cluster left running: splitbrain cluster status\|down --root (\S+)",
                     left.stdout)
    assert hint, f"no 'left running' line: {left.stdout!r} {left.stderr!r}"
    root = Path(hint.group(1))
    try:
        assert left.returncode == 0, left.stderr
        procs = json.loads((root / "state.json").read_text())["procs"]
        assert {"n1", "n2", "n3"} <= set(procs)

        def running() -> set[str]:
            return {n for n, p in procs.items() if start_time(p["pid"]) == p["start"]}

        assert running() == set(procs), "the left cluster died with its tester"
        status = splitbrain("cluster", "status", "--root", str(root))
        assert status.returncode == 0, status.stdout + status.stderr
        assert [line.split()[0] for line in status.stdout.splitlines()] == ["n1", "n2", "n3"]
        assert status.stdout.count(" healthy ") == 3, status.stdout
        # the next run reaps only clusters whose tester died, not one left running on purpose
        nxt = splitbrain("test", *quick, "--store", str(tmp_path / "store2"))
        assert nxt.returncode == 0, nxt.stderr
        assert running() == set(procs), "the next run's reaper took the left cluster down"
        down = splitbrain("cluster", "down", "--root", str(root))
        assert down.returncode == 0, down.stderr
        assert f"stopped the cluster in {root}" in down.stdout
        assert running() == set(), "cluster down left processes running"
        assert not (root / "state.json").exists()
    finally:
        stop_detached(root)  # None when cluster down already did it


@pytest.mark.parametrize("argv, message", [
    (["--concurrency", "0"], "--concurrency must be at least 1, not 0"),
    (["--rate", "0"], "--rate must be a positive number of ops per second, not 0"),
    (["--op-timeout", "-1"], "--op-timeout must be a positive number of seconds, not -1"),
    (["--nemesis-interval", "0"], "--nemesis-interval must be a positive number of seconds, not 0"),
    (["--request-timeout-ms", "0"], "--request-timeout-ms must be at least 1, not 0"),
])
def test_test_and_sim_refuse_the_same_pacing_with_the_same_sentence(tmp_path, capsys, argv,
                                                                    message):
    said = []
    for command in ("test", "sim"):
        assert cli_exit([command, "--store", str(tmp_path / command), *argv]) == 254
        said.append(capsys.readouterr().err)
    assert said[0] == said[1] == f"splitbrain: {message}\n"
