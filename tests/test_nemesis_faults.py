"""The fault kinds added for the bugs calibration missed (one-way, bridge, leader-latency,
leader-one-way, leader-clock, flap-owners): what each does to the fake cluster's network,
clocks and processes, what it refuses, and that the schedule draws them."""

from __future__ import annotations

import asyncio
import random

import pytest

from splitbrain.db.bugs import CATALOGUE, PAXOS_ACK_BEFORE_FSYNC
from splitbrain.errors import BadInput
from splitbrain.harness.calibrate import Plan
from splitbrain.nemesis import (Bridge, Crash, FlapOwners, LeaderClock, LeaderLatency,
                                LeaderOneWay, OneWay, combined, faults)
from test_nemesis import FakeNet
from test_nemesis_rounds import DYNAMO, DYNAMODB, RateCluster, StatusCluster

OTHERS = ["n1", "n2", "n3", "n5"]  # DYNAMODB's partition 1 is led by n4


@pytest.mark.parametrize("seed", range(6))
def test_one_way_cuts_one_side_to_the_other_and_leaves_the_reverse_flowing(seed):
    async def scenario() -> None:
        c, nemesis = RateCluster(), OneWay()
        op = await nemesis.start(c, random.Random(seed))
        cut = set(c.net.cuts)
        mute = {a for a, _ in cut}
        deaf = {b for _, b in cut}
        assert op["f"] == "start-one-way" and mute and deaf and not mute & deaf
        assert cut == {(a, b) for a in mute for b in c.names if b not in mute}
        assert not any((b, a) in cut for a, b in cut)
        assert (await nemesis.stop(c))["f"] == "stop-one-way" and not c.net.cuts

    asyncio.run(scenario())


def test_bridge_draws_only_the_topologies_whose_sides_overlap():
    drawn = {Bridge().plan([f"n{i}" for i in range(1, 6)], random.Random(s))["value"]["topology"]
             for s in range(20)}
    assert drawn == {"bridge", "majorities-ring"}


def test_leader_latency_slows_only_the_links_into_the_leader_then_removes_the_delay():
    async def scenario() -> None:
        c, nemesis = StatusCluster(DYNAMODB), LeaderLatency()
        op = await nemesis.perform(c, {"f": "start-leader-latency",
                                       "value": {"pick": 0.7, "seconds": 1.2}})
        assert op["value"]["node"] == "n4" and op["value"]["partition"] == 1
        assert c.net.delays == {(a, "n4"): 1.2 for a in OTHERS} and not c.net.cuts
        await nemesis.stop(c)
        assert c.net.delays == {(a, "n4"): 0.0 for a in OTHERS}

    asyncio.run(scenario())


@pytest.mark.parametrize("kind,extra", [(LeaderOneWay, {"seconds": 0.01}),
                                        (LeaderClock, {"offset": -3.0})])
def test_leader_one_way_and_leader_clock_pick_the_leader_of_the_most_partitions(kind, extra):
    status = {"partitions": {str(p): {"replicas": ["n1", "n2", "n3"], "leader": leader}
                             for p, leader in enumerate(["n1", "n3", "n3", "n2"])}}

    async def scenario() -> None:
        c, nemesis = StatusCluster(status), kind()
        op = await nemesis.perform(c, {"f": f"start-{kind.kind}",
                                       "value": {"pick": 0.0, **extra}})
        assert (op["value"]["node"], op["value"]["leads"]) == ("n3", [1, 2])

    asyncio.run(scenario())


def test_leader_one_way_cuts_the_leaders_sends_and_delays_what_it_receives():
    async def scenario() -> None:
        c, nemesis = StatusCluster(DYNAMODB), LeaderOneWay()
        assert 1.6 <= nemesis.plan(c.names, random.Random(1))["value"]["seconds"] <= 1.9
        started = asyncio.get_running_loop().time()
        op = await nemesis.perform(c, {"f": "start-leader-one-way",
                                       "value": {"pick": 0.7, "seconds": 0.05}})
        # the cut comes a delay after the delay began, so that late acks are on their way
        assert asyncio.get_running_loop().time() - started >= 0.05
        assert op["value"]["leads"] == [1]  # n2 and n4 lead one partition each: pick n4
        assert op["value"]["cut"] == {"n4": OTHERS}
        assert c.net.cuts == {("n4", b) for b in OTHERS}
        assert c.net.delays == {(a, "n4"): 0.05 for a in OTHERS}
        stop = await nemesis.stop(c)
        assert stop["f"] == "stop-leader-one-way" and not c.net.cuts
        assert set(c.net.delays.values()) == {0.0}

    asyncio.run(scenario())


def test_leader_clock_isolates_the_leader_and_steps_back_only_its_clock():
    async def scenario() -> None:
        c, nemesis = StatusCluster(DYNAMODB), LeaderClock()
        op = nemesis.plan(c.names, random.Random(3))
        assert 3.0 <= -op["value"]["offset"] <= 8.0
        op["value"]["pick"] = 0.7
        await nemesis.perform(c, op)
        assert c.net.cuts == {(a, b) for a in c.names for b in c.names
                              if a != b and "n4" in (a, b)}
        assert c.offsets == {"n4": op["value"]["offset"]}
        await nemesis.stop(c)
        assert c.offsets == {"n4": 0.0} and not c.net.cuts

    asyncio.run(scenario())


class LoggingCluster(StatusCluster):
    def __init__(self, status: dict):
        super().__init__(status)
        self.events: list[tuple[str, str]] = []

    async def kill(self, name: str) -> None:
        self.events.append(("kill", name))
        await super().kill(name)

    async def restart(self, name: str) -> None:
        self.events.append(("restart", name))
        await super().restart(name)


def test_flap_owners_restarts_kills_again_then_restarts_the_same_owners(monkeypatch):
    monkeypatch.setattr(faults, "FLAP_UP", 0.0)
    monkeypatch.setattr(faults, "FLAP_DOWN", 0.0)

    async def scenario() -> None:
        c, nemesis = LoggingCluster(DYNAMO), FlapOwners()
        op = await nemesis.perform(c, {"f": "start-flap-owners", "value": {"pick": 0.0}})
        assert op["value"]["nodes"] == ["n1", "n4", "n5"] and c.down == {"n1", "n4", "n5"}
        c.events.clear()
        stop = await nemesis.stop(c)
        assert stop["f"] == "stop-flap-owners" and not c.down
        assert [f for f, _ in c.events] == ["restart"] * 3 + ["kill"] * 3 + ["restart"] * 3

    asyncio.run(scenario())


class StatusOnly:
    """Names, a network and ``/admin/status``, and no other capability."""

    def __init__(self) -> None:
        self.names, self.net = ["n1", "n2", "n3"], FakeNet()

    def client_url(self, name: str) -> str:
        return ""

    async def admin_status(self, name: str) -> dict:
        return DYNAMODB


@pytest.mark.parametrize("kind, cluster, lacking", [
    (LeaderOneWay, FakeNet, "report their partitions' leaders"),
    (FlapOwners, FakeNet, "report their partitions' leaders"),
    (LeaderClock, StatusOnly, "clocks can be skewed"),
    (FlapOwners, StatusOnly, "can be killed")])
def test_targeted_kinds_refuse_a_cluster_lacking_a_capability_in_one_sentence(kind, cluster,
                                                                              lacking):
    with pytest.raises(BadInput) as e:
        kind().check(cluster())
    assert lacking in str(e.value) and str(e.value).count(". ") == 0


def test_the_schedule_draws_every_new_kind_in_its_rounds():
    kinds = "one-way,bridge,leader-latency,leader-one-way,leader-clock,flap-owners"
    schedule, rng = combined(kinds, 1.0), random.Random(0)
    drawn = [n.kind for _ in range(6) for n in schedule._next(rng)]
    assert sorted(drawn) == sorted(kinds.split(","))


def test_a_catalogue_run_may_set_its_own_fault_interval():
    plan = Plan(bugs=[PAXOS_ACK_BEFORE_FSYNC, "lww-no-tiebreak"], seeds=1, clean=0,
                nemesis_interval=5.0)
    intervals = {name: opts.nemesis_interval for name, opts in plan.runs()}
    assert intervals == {PAXOS_ACK_BEFORE_FSYNC: 2.0, "lww-no-tiebreak": 5.0}
    assert "--nemesis-interval 2.0" in CATALOGUE[PAXOS_ACK_BEFORE_FSYNC].command()


class CrashCluster(LoggingCluster):
    async def crash(self, name: str) -> None:
        self.events.append(("crash", name))
        self.down.add(name)


def test_crash_power_losses_the_targets_and_restarts_the_same_ones():
    async def scenario() -> None:
        c, nemesis = CrashCluster(DYNAMO), Crash()
        nemesis.check(c)
        op = await nemesis.start(c, random.Random(2))
        assert op["f"] == "start-crash" and c.events == [("crash", n) for n in op["value"]["nodes"]]
        assert (await nemesis.stop(c))["f"] == "stop-crash" and not c.down
        assert c.events[-len(op["value"]["nodes"]):] == [("restart", n)
                                                          for n in op["value"]["nodes"]]

    asyncio.run(scenario())


def test_crash_refuses_a_cluster_whose_storage_cannot_lose_unsynced_writes():
    with pytest.raises(BadInput, match="storage can lose what it had not synced"):
        Crash().check(StatusCluster(DYNAMO))
