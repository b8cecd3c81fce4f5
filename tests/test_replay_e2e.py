"""``splitbrain test --replay FILE``: a replay file's faults and ops played on real node
processes, judged like any run, and said whether the recorded anomaly came back."""

from __future__ import annotations

import json

import pytest

from splitbrain.cli import main
from splitbrain.harness.store import load_history, load_test
from splitbrain.harness.testrun import replay_verdict
from splitbrain.replay import VERSION, FinalRead, Fault, Op, Replay

pytestmark = pytest.mark.integration

OPTIONS = {"mode": "dynamodb", "workload": "register", "nodes": 3, "concurrency": 3,
           "op_timeout": 1.0, "recovery": 0.5, "bugs": [], "nemesis": "partition,kill",
           "lying_disks": False}
OPS = (Op(0, "write", "r0", 1, None, "n1", 0.0), Op(1, "read", "r0", None, "strong", "n2", 0.05),
       Op(2, "cas", "r0", [1, 2], None, "n3", 0.1), Op(0, "read", "r0", None, "strong", "n1", 0.6),
       Op(1, "write", "r0", 3, None, "n2", 0.7))
KILL = Fault("kill", "kill", {"nodes": ["n3"]}, 0.2, 0.3)


def test_a_replay_plays_its_ops_and_faults_on_real_nodes_and_says_it_did_not_reproduce(
        tmp_path, capsys):
    replay = Replay(OPTIONS, 7, (KILL,), OPS, (FinalRead("read", "r0", "eventual"),),
                    ("linearizable", "nonlinearizable", "'r0'"))
    path = replay.write(tmp_path / "replay.json")
    with pytest.raises(SystemExit) as e:
        main(["test", "--replay", str(path), "--store", str(tmp_path / "store")])
    out = capsys.readouterr().out
    assert e.value.code == 0, out  # a healthy cluster: valid, and not reproducing is no failure
    assert ("replay: not reproduced: this run showed no linearizable nonlinearizable on key "
            "'r0' (timing differs between the simulator and real processes)") in out
    run_dir = next((tmp_path / "store").glob("dynamodb-register-kill/*/"))
    test = load_test(run_dir)
    assert test["replay"]["reproduced"] is False and "--replay" in test["command"]
    events = load_history(run_dir).events
    invokes = [e for e in events if e.type == "invoke" and e.process != "nemesis"
               and not (e.meta or {}).get("final")]
    assert [(e.process, e.f, e.key, e.value) for e in invokes] == \
        [(o.process, o.f, o.key, o.value) for o in OPS]
    assert all(e.time >= o.time * 1e9 for e, o in zip(invokes, OPS))
    faults = [(e.f, e.value, e.time / 1e9) for e in events
              if e.process == "nemesis" and e.type == "invoke" and e.f != "heal"]
    assert [f[:2] for f in faults] == [("kill", {"nodes": ["n3"]}), ("restart", {"nodes": ["n3"]})]
    assert faults[0][2] == pytest.approx(0.2, abs=0.15)
    assert faults[1][2] == pytest.approx(0.5, abs=0.15)
    finals = {(e.node, e.f, e.key) for e in events
              if e.type == "invoke" and (e.meta or {}).get("final")}
    assert finals == {(n, "read", "r0") for n in ("n1", "n2", "n3")}


def test_a_replay_that_came_back_says_so():
    test = {"replay": {"expect": {"checker": "linearizable", "type": "nonlinearizable",
                                  "key": "'r3'"}, "reproduced": True, "other_keys": []}}
    assert replay_verdict(test) == "replay: reproduced linearizable nonlinearizable on key 'r3'"
    assert replay_verdict({}) is None


def test_a_replay_with_lying_disks_is_refused_on_real_nodes(tmp_path, capsys):
    path = tmp_path / "replay.json"
    Replay({**OPTIONS, "lying_disks": True}, 1, (), OPS, ()).write(path)
    with pytest.raises(SystemExit) as e:
        main(["test", "--replay", str(path), "--store", str(tmp_path)])
    err = capsys.readouterr().err
    assert e.value.code == 254 and "only the simulator has" in err
    assert json.loads(path.read_text())["version"] == VERSION
