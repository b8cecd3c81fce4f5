"""The simulator runs each planted bug's catalogue run (``calibrate --sim``, ``sim --bug``)
and its swarm draws faults long enough for the lease bugs. In this process on virtual time."""

from __future__ import annotations

import dataclasses
import json

import pytest

from splitbrain.cli import main
from splitbrain.db import bugs as B
from splitbrain.harness.calibrate import first_violation
from splitbrain.harness.testrun import TestOptions
from splitbrain.sim.calibrate import SimPlan
from splitbrain.sim.command import option_args
from splitbrain.sim.run import SimOptions, run_seed
from splitbrain.sim.world import LONG_FAULT, draw


@pytest.mark.parametrize("name", list(B.CATALOGUE))
def test_calibrate_sim_builds_each_bugs_options_from_its_catalogue_run(name):
    entry = B.CATALOGUE[name]
    (_, opts, seed), = SimPlan(bugs=[name], seeds=1, clean=0, seed=7, ops=300).runs()
    assert seed == 7 and opts.bug == (name,)
    for k, v in entry.run.items():  # every option the real calibration runs with
        assert getattr(opts, k) == (tuple(v) if k == "expect" else v), k
        assert k in {f.name for f in dataclasses.fields(TestOptions)}
    # as many virtual seconds of workload at any rate
    assert opts.ops / opts.rate == 300 / SimOptions.rate
    assert opts == SimOptions.of_bug(entry, 300)
    # sim --bug NAME alone runs what calibrate --sim runs by default
    assert SimOptions.of_bug(entry) == SimPlan(bugs=[name]).options(entry, bug=(name,))


def test_a_catalogue_run_option_the_simulator_lacks_is_refused_by_name():
    entry = dataclasses.replace(B.CATALOGUE[B.READ_WITHOUT_LEASE],
                                run={**B.CATALOGUE[B.READ_WITHOUT_LEASE].run, "net": "netns"})
    with pytest.raises(ValueError, match="'net' of read-without-lease has no splitbrain sim"):
        SimOptions.of_bug(entry)


def test_the_plans_fault_interval_paces_only_runs_that_do_not_set_their_own():
    plan = SimPlan(bugs=[B.READ_WITHOUT_LEASE, B.PAXOS_ACK_BEFORE_FSYNC], seeds=1, clean=0,
                   nemesis_interval=4.0)
    assert [o.nemesis_interval for _, o, _ in plan.runs()] == [
        4.0, B.CATALOGUE[B.PAXOS_ACK_BEFORE_FSYNC].run["nemesis_interval"]]


def test_sim_bug_alone_runs_the_catalogue_run_and_its_command_replays_it(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["sim", "--bug", B.LWW_NO_TIEBREAK, "--ops", "60", "--seeds", "1", "--jobs", "1",
              "--no-shrink", "--store", str(tmp_path)])
    assert e.value.code == 1  # caught: its run is lww with no faults, not sim's defaults
    test, = [json.loads(p.read_text()) for p in tmp_path.glob("*/*/test.json")]
    assert (test["options"]["mode"], test["options"]["nemesis"]) == ("lww", "none")
    assert test["command"] == f"splitbrain sim --ops 60 --bug {B.LWW_NO_TIEBREAK} " \
                              f"--seeds 1..1 --no-shrink"
    capsys.readouterr()
    # an option given on the command line wins over the catalogue's, and is kept in the
    # command even when it equals sim's own default
    wait = SimOptions.of_bug(B.CATALOGUE[B.NO_LEASE_WAIT])
    assert "--concurrency 10" in option_args(dataclasses.replace(wait, concurrency=10))


def test_half_the_seeds_draw_faults_longer_than_a_lease_and_an_election():
    names = [f"n{i}" for i in range(1, 6)]
    worlds = [draw(names, seed, ["partition"]) for seed in range(1, 201)]
    long = [w for w in worlds if w.fault_seconds != w.nemesis_interval]
    assert 70 < len(long) < 130
    assert all(LONG_FAULT[0] <= w.fault_seconds <= LONG_FAULT[1] for w in long)


def test_a_long_fault_lasts_its_drawn_length():
    opts = SimOptions(nemesis="partition", ops=1000)
    out = run_seed(opts, 3)  # seed 3 draws long faults
    assert out.world.fault_seconds != out.world.nemesis_interval
    starts = {e.f: e.time / 1e9 for e in reversed(out.history.events)
              if e.process == "nemesis" and e.type == "invoke"}
    assert starts["stop-partition"] - starts["start-partition"] == pytest.approx(
        out.world.fault_seconds, abs=1e-3)


def test_a_lease_bug_is_caught_by_a_fixed_seed_and_the_correct_store_is_not():
    opts = SimOptions.of_bug(B.CATALOGUE[B.LEASE_ON_WALL_CLOCK], ops=1000)
    caught = run_seed(opts, 8)
    assert caught.result.valid is False
    _, checker, anomaly = first_violation(caught.result, caught.history)
    assert (checker, anomaly) == ("linearizable", "nonlinearizable")
    assert run_seed(dataclasses.replace(opts, bug=()), 8).result.valid is True


def test_the_clock_faults_reach_the_simulated_nodes_clocks():
    import asyncio

    from splitbrain.sim import loop
    from splitbrain.sim.clock import SimClock

    async def main() -> tuple[float, float]:
        clock = SimClock(drift=0.01)
        await asyncio.sleep(1.0)
        clock.set_rate(2.0)  # as the clock-rate fault does
        clock.offset = -5.0  # as the clock and leader-clock faults do
        before, wall = clock.monotonic(), clock.wall()
        await asyncio.sleep(1.0)
        return clock.monotonic() - before, clock.wall() - wall

    mono, wall = loop.run(main(), limit=10.0)
    assert mono == pytest.approx(2.0 * 1.01) and wall == pytest.approx(1.01)
    for kind, f in (("leader-clock", "start-leader-clock"), ("clock-rate", "rate-clock")):
        out = run_seed(SimOptions(nemesis=kind, ops=300, nemesis_interval=1.0), 1)
        done = [e.value for e in out.history.events if e.process == "nemesis"
                and e.type == "info" and e.f == f]
        assert done and not any(v.get("failed") for v in done), kind


@pytest.mark.parametrize("kind, f", [("leader-clock", "start-leader-clock"),
                                     ("clock-rate", "rate-clock"),
                                     ("isolate-leader", "start-isolate-leader")])
def test_a_seed_with_targeted_or_clock_faults_replays_some_of_its_faults(kind, f):
    # the shrinker's sieve must offer what these kinds need (status, both clock knobs)
    out = run_seed(SimOptions(nemesis=kind, ops=300, nemesis_interval=0.5, faults=(1,)), 1)
    starts = [e for e in out.history.events if e.process == "nemesis" and e.type == "info"
              and e.f == f]
    assert len(starts) == 1 and not starts[0].value.get("failed")


def test_a_bug_whose_run_sets_a_slow_pace_gets_a_seed_long_enough_for_two_faults():
    # indefinite-as-definite faults every 5 s at 200 ops/s: 10 virtual seconds held one fault
    # and caught it in 0 of 50 seeds; 15 s hold two
    slow = SimOptions.of_bug(B.CATALOGUE[B.INDEFINITE_AS_DEFINITE])
    assert slow.ops / slow.rate == pytest.approx(15.0)
    # a quick pace keeps the 10 s, and an explicit --ops is taken as given (scaled by rate)
    quick = SimOptions.of_bug(B.CATALOGUE[B.ANTI_ENTROPY_OVERWRITES])
    assert quick.ops / quick.rate == pytest.approx(10.0)
    assert SimOptions.of_bug(B.CATALOGUE[B.INDEFINITE_AS_DEFINITE], 300).ops == 600


def test_lag_successor_catches_serve_before_catch_up_where_the_same_seed_without_it_is_valid():
    opts = SimOptions.of_bug(B.CATALOGUE[B.SERVE_BEFORE_CATCH_UP])
    assert opts.nemesis == "lag-successor"
    caught = run_seed(opts, 13)  # one of 4 seeds of 1-100 that catch it
    assert caught.result.valid is False
    starts = [e for e in caught.history.events
              if e.process == "nemesis" and e.type == "info" and e.f == "start-lag-successor"]
    assert any(e.value["elected"] == e.value["successor"] for e in starts)
    assert run_seed(dataclasses.replace(opts, bug=()), 13).result.valid is True
