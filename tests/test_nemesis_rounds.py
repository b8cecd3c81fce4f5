"""The schedule's rounds and overlap, and the clock-rate and latency faults, against the
in-memory fake cluster of test_nemesis; the rate itself against the node's OS clock."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Iterable

import pytest

from splitbrain.db.runtime import OsClock
from splitbrain.harness.net import Link
from splitbrain.nemesis import ClockRate, Latency, combined
from test_nemesis import FakeCluster, FakeNet


class DelayNet(FakeNet):
    def __init__(self) -> None:
        self.delays: dict[Link, float] = {}

    async def delay(self, links: Iterable[Link], seconds: float) -> None:
        for link in links:
            self.delays[link] = seconds


class RateCluster(FakeCluster):
    def __init__(self, n: int = 5):
        super().__init__(n)
        self.net = DelayNet()
        self.rates: dict[str, float] = {}

    async def set_clock_rate(self, name: str, rate: float) -> None:
        self.rates[name] = rate


KINDS = "partition,kill,pause,clock,clock-rate,latency"


@pytest.mark.parametrize("seed", range(5))
def test_every_round_covers_every_kind_once(seed):
    schedule, rng = combined(KINDS, 1.0), random.Random(seed)
    kinds = [n.kind for _ in range(12) for n in schedule._next(rng)]
    assert sorted(kinds[:6]) == sorted(KINDS.split(",")) == sorted(kinds[6:])


@pytest.mark.parametrize("seed", range(5))
def test_overlap_takes_two_different_kinds_each_period_covering_every_kind(seed):
    schedule, rng = combined("partition,clock,latency", 1.0, overlap=True), random.Random(seed)
    periods = [[n.kind for n in schedule._next(rng)] for _ in range(9)]
    assert all(len(p) == 2 and p[0] != p[1] for p in periods)
    flat = [k for p in periods for k in p]
    assert all(sorted(flat[i:i + 3]) == ["clock", "latency", "partition"]
               for i in range(0, 18, 3))


def test_an_overlapping_run_starts_both_faults_then_stops_both_and_heals():
    async def scenario() -> list[tuple[str, str]]:
        c, events = RateCluster(), []
        schedule = combined("partition,clock-rate", 0.05, overlap=True)
        await schedule.run(c, random.Random(2), lambda t, f, v: events.append((t, f)), 0.4)
        await schedule.heal(c, lambda t, f, v: None)
        assert not c.net.cuts and all(r == 1.0 for r in c.rates.values())
        return [f for t, f in events if t == "invoke"]

    fs = asyncio.run(scenario())
    assert sorted(fs[:2]) == ["rate-clock", "start-partition"]
    assert fs[2:4] == [{"rate-clock": "reset-rate", "start-partition": "stop-partition"}[f]
                       for f in reversed(fs[:2])]


def test_clock_rate_sets_factors_within_the_drift_bound_and_resets_them():
    async def scenario() -> None:
        c, rng = RateCluster(), random.Random(3)
        nemesis = ClockRate()
        op = await nemesis.start(c, rng)
        assert op["f"] == "rate-clock" and c.rates == op["value"]["rates"]
        assert all(0.96 <= r <= 1.04 and r != 1.0 for r in c.rates.values())
        stop = await nemesis.stop(c)
        assert stop["f"] == "reset-rate" and all(r == 1.0 for r in c.rates.values())

    asyncio.run(scenario())


def test_latency_delays_the_links_into_its_targets_and_removes_the_delay():
    async def scenario() -> None:
        c = RateCluster()
        nemesis = Latency()
        op = await nemesis.start(c, random.Random(4))
        slow = {b for _, b in op["value"]["links"]}
        assert 1 <= len(slow) <= 2 and 0.05 <= op["value"]["seconds"] <= 1.0
        assert set(c.net.delays) == {(a, b) for b in slow for a in c.names if a != b}
        await nemesis.stop(c)
        assert set(c.net.delays.values()) == {0.0}

    asyncio.run(scenario())


def test_the_os_clock_rate_scales_monotonic_time_without_a_jump():
    clock = OsClock()
    before = clock.monotonic()
    clock.set_rate(2.0)
    assert clock.monotonic() - before < 0.01  # continuous where the rate changed
    t0, m0 = time.monotonic(), clock.monotonic()
    time.sleep(0.05)
    assert (clock.monotonic() - m0) / (time.monotonic() - t0) == pytest.approx(2.0, rel=0.05)
    assert clock.wall() == pytest.approx(time.time(), abs=0.01)  # the wall clock is untouched


def test_the_new_fault_ops_name_their_kind_for_availability_and_the_report():
    from splitbrain.checkers.availability import fault_kind

    assert fault_kind("rate-clock") == ("start", "clock-rate")
    assert fault_kind("reset-rate") == ("stop", "clock-rate")
    assert fault_kind("start-latency") == ("start", "latency")
    assert fault_kind("stop-latency") == ("stop", "latency")


class StatusCluster(RateCluster):
    """Answers /admin/status like a dynamodb node (``parts``) or a dynamo one (``ring``)."""

    def __init__(self, status: dict):
        super().__init__()
        self.status = status

    async def admin_status(self, name: str) -> dict:
        return self.status


DYNAMODB = {"partitions": {"0": {"replicas": ["n1", "n2", "n3"], "leader": "n2"},
                           "1": {"replicas": ["n3", "n4", "n5"], "leader": "n4"}}}
DYNAMO = {"n": 3, "ring": [[1, "n4"], [2, "n4"], [3, "n1"], [4, "n5"], [5, "n2"]]}


def test_isolate_leader_cuts_the_leader_it_finds_off_and_heals_only_that():
    from splitbrain.nemesis import IsolateLeader

    async def scenario() -> None:
        c, nemesis = StatusCluster(DYNAMODB), IsolateLeader()
        op = await nemesis.perform(c, {"f": "start-isolate-leader", "value": {"pick": 0.7}})
        assert op["value"]["partition"] == 1 and op["value"]["node"] == "n4"
        assert c.net.cuts == {(a, b) for a in c.names for b in c.names
                              if a != b and "n4" in (a, b)}
        stop = await nemesis.stop(c)
        assert stop["value"] == {"node": "n4"} and not c.net.cuts

    asyncio.run(scenario())


@pytest.mark.parametrize("status, pick, owners", [(DYNAMODB, 0.2, ["n1", "n2", "n3"]),
                                                  (DYNAMO, 0.0, ["n1", "n4", "n5"])])
def test_kill_owners_kills_every_replica_of_one_range_and_restarts_them(status, pick, owners):
    from splitbrain.nemesis import KillOwners

    async def scenario() -> None:
        c, nemesis = StatusCluster(status), KillOwners()
        op = await nemesis.perform(c, {"f": "start-kill-owners", "value": {"pick": pick}})
        assert op["value"]["nodes"] == owners and c.down == set(owners)
        await nemesis.stop(c)
        assert not c.down

    asyncio.run(scenario())
