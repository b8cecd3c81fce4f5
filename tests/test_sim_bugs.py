"""Planted bugs in the simulator: ``splitbrain sim --bug`` is validated as ``test --bug`` is,
reaches the node config, and is recorded in the stored run; the targeted faults run on the
simulated cluster. All in this process on virtual time."""

from __future__ import annotations

import dataclasses
import json

import pytest

from splitbrain.cli import main
from splitbrain.db import bugs as B
from splitbrain.sim.command import store_run
from splitbrain.sim.run import SimOptions, run_seed

RMW = SimOptions(workload="counter", nemesis="none", ops=60, bug=(B.ADD_AS_READ_MODIFY_WRITE,))


def _exit(args: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(args)
    out = capsys.readouterr()
    return e.value.code, out.out, out.err


@pytest.mark.parametrize("args", [["--bug", "no-such-bug"],
                                  ["--mode", "dynamodb", "--bug", B.LWW_NO_TIEBREAK],
                                  ["--expect", "no-such-property"],
                                  ["--workload", "counter", "--expect", "linearizable"]])
def test_sim_refuses_a_bug_or_expectation_exactly_as_test_does(args, capsys, tmp_path):
    sim = _exit(["sim", *args, "--seeds", "1", "--store", str(tmp_path)], capsys)
    test = _exit(["test", *args, "--store", str(tmp_path)], capsys)
    assert sim[0] == test[0] == 254
    assert sim[2] == test[2] and sim[2].count("\n") == 1


def test_sim_bug_list_prints_the_catalogue(capsys):
    code, out, _ = _exit(["sim", "--bug", "list"], capsys)
    assert code == 0 and all(name in out for name in B.CATALOGUE)


def test_a_planted_bug_reaches_the_nodes_and_the_stored_run(tmp_path):
    assert run_seed(dataclasses.replace(RMW, bug=()), 1).result.valid is True
    caught = run_seed(RMW, 1)
    assert caught.config["bugs"] == [B.ADD_AS_READ_MODIFY_WRITE]
    assert caught.result.valid is False
    run_dir = store_run(RMW, caught, str(tmp_path))
    test = json.loads((run_dir / "test.json").read_text())
    assert test["options"]["bug"] == [B.ADD_AS_READ_MODIFY_WRITE]
    assert test["command"].endswith(f"--bug {B.ADD_AS_READ_MODIFY_WRITE} --seeds 1..1 "
                                    f"--no-shrink")
    assert f"planted bug: {B.ADD_AS_READ_MODIFY_WRITE}" in (run_dir / "report.html").read_text()


def test_sim_command_says_which_bug_is_planted(capsys, tmp_path):
    code, out, _ = _exit(["sim", "--workload", "counter", "--nemesis", "none", "--ops", "60",
                          "--bug", B.ADD_AS_READ_MODIFY_WRITE, "--seeds", "1", "--jobs", "1",
                          "--no-shrink", "--store", str(tmp_path)], capsys)
    assert code == 1 and out.startswith(f"planted bug: {B.ADD_AS_READ_MODIFY_WRITE}\n")


@pytest.mark.parametrize("kind, f", [("isolate-leader", "start-isolate-leader"),
                                     ("kill-owners", "start-kill-owners"),
                                     ("strand-follower", "start-strand-follower")])
def test_the_targeted_faults_find_their_target_in_the_simulated_cluster(kind, f):
    out = run_seed(SimOptions(nemesis=kind, ops=100), 1)
    started = [e for e in out.history.events if e.process == "nemesis" and e.f == f
               and e.type == "info"]
    assert started, f"no {f} in the history"
    assert all(e.value.get("node") or e.value.get("nodes") for e in started)
    assert not any(e.value.get("failed") for e in started)  # disks slowed, nodes killed


def test_a_fixed_nemesis_interval_paces_every_seeds_faults_and_is_replayed(tmp_path):
    opts = SimOptions(nemesis="kill", ops=700, nemesis_interval=1.5)
    out = run_seed(opts, 1)
    faults = [(e.f, round(e.time / 1e9, 2)) for e in out.history.events
              if e.process == "nemesis" and e.type == "invoke"]
    assert faults[:3] == [("kill", 1.5), ("restart", 3.0), ("kill", 4.5)]
    assert "--nemesis-interval 1.5" in store_run(opts, out, str(tmp_path)).joinpath(
        "test.json").read_text()
