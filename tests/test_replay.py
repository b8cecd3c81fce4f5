"""Replay files (splitbrain/replay.py), the players that run them (nemesis.schedule.Played,
workloads.replay), shrinking to the failing key and shorter faults, and ``sim --replay``."""

from __future__ import annotations

import dataclasses
import json
import random

import pytest

from splitbrain import replay as replayfile
from splitbrain.cli import main
from splitbrain.harness.generators import Context, Invocation, Wait
from splitbrain.harness.testrun import recheck
from splitbrain.nemesis.faults import KINDS, STARTS
from splitbrain.replay import Fault, Op, Replay, from_history, violations
from splitbrain.sim.command import store_run
from splitbrain.sim.run import SimOptions, history_digest, run_seed
from splitbrain.sim.shrink import shrink
from splitbrain.workloads.replay import Played

LYING = SimOptions(ops=120, nemesis="kill", lying_disks=True)


@pytest.fixture(scope="module")
def caught():
    return run_seed(LYING, 1)


@pytest.fixture(scope="module")
def shrunk(caught):
    return shrink(LYING, caught)


def test_every_start_op_of_every_fault_kind_names_its_kind():
    names = [f"n{i}" for i in range(1, 6)]
    for kind, cls in KINDS.items():
        seen = {cls().plan(names, random.Random(seed))["f"] for seed in range(40)}
        assert {STARTS.get(f) for f in seen} == {kind}, (kind, seen)


def test_a_recorded_run_becomes_a_replay_that_survives_its_file(caught, tmp_path):
    r = from_history(caught.history, LYING.replay_options(), 1)
    invokes = [e for e in caught.history.events if e.type == "invoke"
               and e.process != "nemesis" and not (e.meta or {}).get("final")]
    assert [(o.process, o.f, o.key, o.value) for o in r.ops] == \
        [(e.process, e.f, e.key, e.value) for e in invokes]
    kills = [e for e in caught.history.events if e.process == "nemesis" and e.type == "invoke"
             and e.f in ("kill", "restart")]
    assert [(f.kind, f.f, f.start) for f in r.faults] == \
        [("kill", "kill", e.time / 1e9) for e in kills[::2]]
    assert [f.start + f.duration for f in r.faults] == \
        pytest.approx([e.time / 1e9 for e in kills[1::2]])
    assert replayfile.load(r.write(tmp_path / "replay.json")) == r


def test_shrinking_keeps_the_anomaly_and_only_the_failing_keys_ops(caught, shrunk):
    assert shrunk.signature == violations(caught.result)[0]
    assert shrunk.signature in violations(shrunk.outcome.result)
    r = shrunk.replay
    assert r is not None and r.expect == shrunk.signature
    assert r.keys() == [shrunk.signature[2]]
    assert {repr(f.key) for f in r.final_reads} == {shrunk.signature[2]}
    assert r.dropped["ops"] > 0 and shrunk.signature[2] not in r.dropped["keys"]
    assert shrunk.faults < shrunk.faults_before and shrunk.ops < shrunk.ops_before
    assert shrunk.outcome.virtual_seconds < shrunk.seconds_before


def test_shrinking_halves_a_fault_while_the_run_still_fails():
    # a kill of every node while unsynced writes sit on lying disks: the kill's length does
    # not matter, so it halves down to nothing
    opts = SimOptions(ops=60, nemesis="kill", lying_disks=True)
    base = run_seed(opts, 1)
    recorded = from_history(base.history, opts.replay_options(), 1)
    long = dataclasses.replace(recorded, faults=(
        Fault("kill", "kill", {"nodes": ["n1", "n2", "n3", "n4", "n5"]}, 0.3, 0.4),))
    played = run_seed(opts, 1, long)
    assert played.result.valid is False
    shrunk = shrink(opts, played, draw_runs=0)
    assert shrunk is not None and shrunk.replay is not None
    assert [f.duration for f in shrunk.replay.faults] == [0.0]


def test_the_played_faults_start_and_stop_at_their_recorded_times(caught):
    recorded = from_history(caught.history, LYING.replay_options(), 1)
    faults = (Fault("kill", "kill", {"nodes": ["n1"]}, 0.25, 0.4),
              Fault("pause", "pause", {"nodes": ["n2", "n3"]}, 0.5, 0.125),
              Fault("kill", "kill", {"nodes": ["n2"]}, 0.75, 0.0))
    played = run_seed(LYING, 1, dataclasses.replace(recorded, faults=faults))
    events = [e for e in played.history.events
              if e.process == "nemesis" and e.type == "invoke" and e.f != "heal"]
    assert [(e.f, e.value) for e in events] == [
        ("kill", {"nodes": ["n1"]}), ("pause", {"nodes": ["n2", "n3"]}),
        ("resume", {"nodes": ["n2", "n3"]}), ("restart", {"nodes": ["n1"]}),
        ("kill", {"nodes": ["n2"]}), ("restart", {"nodes": ["n2"]})]
    assert [e.time / 1e9 for e in events] == pytest.approx(
        [0.25, 0.5, 0.625, 0.65, 0.75, 0.75], abs=0.002)


def test_played_ops_go_to_their_thread_in_order_and_not_before_their_time():
    ops = [Op(0, "write", "k", 1, None, "n1", 0.5), Op(1, "read", "k", None, "strong", "n2", 0.1),
           Op(10, "read", "k", None, "eventual", "n1", 0.2)]
    g = Played(ops, concurrency=10)
    rng = random.Random(0)
    at = lambda t, thread: g.next(Context(t, thread, frozenset(range(10)), rng))  # noqa: E731
    assert at(0.0, 0) == Wait(0.5)
    assert at(0.1, 1) == Invocation("read", key="k", consistency="strong")
    assert at(0.2, 1) is None
    assert at(0.5, 0) == Invocation("write", key="k", value=1)
    assert at(0.6, 0) == Invocation("read", key="k", consistency="eventual")
    assert at(0.7, 0) is None and at(0.0, 5) is None


def test_a_lying_disk_is_what_fails_the_seed():
    assert run_seed(dataclasses.replace(LYING, lying_disks=False), 1).result.valid is True


def test_sim_replay_reproduces_the_stored_shrunk_run_exactly(shrunk, tmp_path, capsys):
    run_dir = store_run(shrunk.opts, shrunk.outcome, str(tmp_path), shrunk.replay)
    test, result = recheck(run_dir)
    assert result.valid is False
    assert test["command"] == f"splitbrain sim --replay {run_dir / 'replay.json'}"
    digest = test["digest"]
    with pytest.raises(SystemExit) as e:
        main(["sim", "--replay", str(run_dir / "replay.json"), "--store", str(tmp_path)])
    out = capsys.readouterr().out
    assert e.value.code == 1, out
    assert f"history digest {digest}" in out
    assert "reproduced: convergence lost-version on key" in out and "NOT" not in out


def test_a_replay_without_faults_plays_on_the_world_its_seed_drew(shrunk, tmp_path, capsys):
    # the world is drawn from the seed and the --nemesis kinds, not from the faults kept
    calm = dataclasses.replace(shrunk.replay, faults=())
    played = run_seed(LYING, 1, calm)
    path = calm.write(tmp_path / "replay.json")
    with pytest.raises(SystemExit):
        main(["sim", "--replay", str(path), "--store", str(tmp_path)])
    assert f"history digest {history_digest(played.history)}" in capsys.readouterr().out


def _bad(tmp_path, change) -> str:
    good = Replay(LYING.replay_options(), 1,
                  (Fault("kill", "kill", {"nodes": ["n1"]}, 0.1, 0.2),),
                  (Op(0, "write", "r0", 1, None, "n1", 0.0),), ())
    d = good.to_dict()
    change(d)
    path = tmp_path / "replay.json"
    path.write_text(json.dumps(d))
    return str(path)


@pytest.mark.parametrize("change, says", [
    (lambda d: d.update(version=7), "replay format version 7"),
    (lambda d: d.pop("format"), "is not a splitbrain replay file"),
    (lambda d: d["options"].pop("mode"), "options.mode is None"),
    (lambda d: d["faults"][0].update(f="pause"), "no start op of that kind"),
    (lambda d: d["faults"].append(dict(d["faults"][0], start=0.2)), "cannot overlap"),
    (lambda d: d["ops"][0].pop("time"), "missing or extra fields"),
    (lambda d: d["ops"][0].update(time=-1), "non-negative seconds"),
    (lambda d: d.update(draws={"net": [0.5, 1.5]}), "draws must be null or an object"),
    (lambda d: d.update(draws=[0.5]), "draws must be null or an object"),
    (lambda d: d["options"].update(request_timeout_ms="10s"), "options.request_timeout_ms is"),
])
def test_a_bad_replay_file_is_refused_in_one_sentence(tmp_path, capsys, change, says):
    with pytest.raises(SystemExit) as e:
        main(["sim", "--replay", _bad(tmp_path, change), "--store", str(tmp_path)])
    err = capsys.readouterr().err
    assert e.value.code == 254 and says in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_a_shrunk_run_that_no_longer_fails_when_played_keeps_its_drawn_replay(
        caught, monkeypatch, tmp_path, capsys):
    from splitbrain.sim import command, shrink as shrinking

    # a replay that cannot fail (no ops at all): stage 3 refuses it and shrinking stops there
    monkeypatch.setattr(shrinking, "from_history",
                        lambda history, options, seed, expect: Replay(options, seed, (), (), ()))
    shrunk = shrinking.shrink(LYING, caught)
    assert shrunk.replay is None and shrunk.signature in violations(shrunk.outcome.result)
    assert shrunk.faults == len(shrunk.opts.faults) and shrunk.ops == shrunk.opts.ops
    monkeypatch.setattr(command, "shrink", lambda opts, outcome: shrunk)
    summary = command.SeedSummary(1, False)
    command.shrink_first(LYING, [summary], str(tmp_path), command.Console(file=None))
    out = capsys.readouterr().out
    assert "no longer fails this way, so it is replayed from its seed and options" in out
    assert "replay: splitbrain sim --nemesis kill --ops" in out and "--lying-disks" in out
    assert not list(tmp_path.glob("*/*/replay.json"))


def test_a_replay_carries_the_request_budget_its_run_set(caught, tmp_path):
    # a catalogue run may set the nodes' request budget (indefinite-as-definite's does); a
    # replay without it would play against nodes that give up ten times sooner
    opts = dataclasses.replace(LYING, request_timeout_ms=4000)
    recorded = from_history(caught.history, opts.replay_options(), 1)
    recorded.write(tmp_path / "replay.json")
    loaded = replayfile.load(tmp_path / "replay.json")
    assert loaded.options["request_timeout_ms"] == 4000
    assert SimOptions.of_replay(loaded).request_timeout_ms == 4000
    unset = from_history(caught.history, LYING.replay_options(), 1)
    assert "request_timeout_ms" not in unset.options
    assert SimOptions.of_replay(unset).request_timeout_ms is None
