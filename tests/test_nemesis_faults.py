"""The fault kinds added for the bugs calibration missed (one-way, bridge, leader-latency,
leader-one-way, leader-clock, flap-owners, strand-follower): what each does to the fake cluster's network,
clocks and processes, what it refuses, and that the schedule draws them."""

from __future__ import annotations

import asyncio
import json
import random

import pytest

from splitbrain.db.bugs import CATALOGUE, PAXOS_ACK_BEFORE_FSYNC
from splitbrain.errors import BadInput
from splitbrain.harness.calibrate import Plan
from splitbrain.harness.interfaces import NodeUnreachable
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

    async def set_sync_delay(self, name: str, seconds: float) -> None:
        self.events.append(("slow", name))


class MembersCluster(LoggingCluster):
    """A dynamo cluster whose nodes other than the owners report an owner up only once it
    has been restarted ``polls_until_up`` status polls ago."""

    def __init__(self, polls_until_up: int):
        super().__init__(DYNAMO)
        self.polls_until_up = polls_until_up
        self.restarted_at: dict[str, int] = {}
        self.cut_at_restart: dict[str, frozenset] = {}
        self.polls = 0

    async def restart(self, name: str) -> None:
        self.restarted_at[name] = self.polls
        self.cut_at_restart.setdefault(name, getattr(self.net, "cuts", frozenset()))
        await super().restart(name)

    async def admin_status(self, name: str) -> dict:
        self.polls += 1
        members = {n: "up" if n not in self.down and self.restarted_at.get(n, -10 ** 6)
                   <= self.polls - self.polls_until_up else "down" for n in self.names}
        return {**DYNAMO, "members": members}


def test_flap_owners_restarts_each_owner_on_a_stalled_disk_and_kills_it_once_seen_up(
        monkeypatch):
    monkeypatch.setattr(faults, "POLL", 0.0)
    monkeypatch.setattr(faults, "FLAP_STALLED", 0.0)
    monkeypatch.setattr(faults, "FLAP_DOWN", 0.0)

    async def scenario() -> None:
        c, nemesis = MembersCluster(polls_until_up=5), FlapOwners()
        op = await nemesis.perform(c, {"f": "start-flap-owners", "value": {"pick": 0.0}})
        assert op["value"]["nodes"] == ["n1", "n4", "n5"] and c.down == {"n1", "n4", "n5"}
        c.events.clear()
        stop = await nemesis.stop(c)
        assert stop["f"] == "stop-flap-owners" and not c.down
        # each owner restarted (while cut off from the holders), its disk stalled, killed,
        # then restarted for good; the cut healed
        for owner in ("n1", "n4", "n5"):
            assert [f for f, n in c.events if n == owner] == ["restart", "slow", "kill",
                                                              "restart"]
        cut = {link for o in ("n1", "n4", "n5") for h in ("n2", "n3") for link in ((o, h), (h, o))}
        assert all(c.cut_at_restart[o] == cut for o in ("n1", "n4", "n5"))
        assert not c.net.cuts
        assert [f for f, _ in c.events][-3:] == ["restart"] * 3
        # each second kill came only after both holders reported that owner up
        assert stop["value"]["seen"] == {o: ["n2", "n3"] for o in ("n1", "n4", "n5")}
        assert c.polls >= 5

    asyncio.run(scenario())


def test_flap_owners_kills_again_after_its_bound_when_no_peer_reports_the_owner_up(
        monkeypatch):
    monkeypatch.setattr(faults, "POLL", 0.001)
    monkeypatch.setattr(faults, "FLAP_SEEN", 0.02)
    monkeypatch.setattr(faults, "FLAP_STALLED", 0.0)
    monkeypatch.setattr(faults, "FLAP_DOWN", 0.0)

    async def scenario() -> None:
        c, nemesis = MembersCluster(polls_until_up=10 ** 9), FlapOwners()
        await nemesis.perform(c, {"f": "start-flap-owners", "value": {"pick": 0.0}})
        stop = await nemesis.stop(c)
        assert stop["value"]["seen"] == {"n1": [], "n4": [], "n5": []} and not c.down

    asyncio.run(scenario())


class ElectingCluster(LoggingCluster):
    """DYNAMODB, where a restarted node knows no leader (as a restarted replica) until its
    group elected one: n5 for every partition, once restarted nodes were polled
    ``polls_until_elected`` times."""

    def __init__(self, polls_until_elected: int):
        super().__init__(DYNAMODB)
        self.polls_until_elected = polls_until_elected
        self.polls = 0

    async def admin_status(self, name: str) -> dict:
        if name in self.down:
            raise NodeUnreachable(f"node {name} is down")
        if ("restart", name) not in self.events:
            return self.status
        self.polls += 1
        leader = "n5" if self.polls >= self.polls_until_elected else None
        status = json.loads(json.dumps(self.status))
        for part in status["partitions"].values():
            part["leader"] = leader
        return status


def test_strand_follower_stalls_and_kills_leader_and_a_follower_and_cuts_the_other_off(
        monkeypatch):
    monkeypatch.setattr(faults, "POLL", 0.0)
    monkeypatch.setattr(faults, "STRAND_SLOWED", 0.0)

    async def scenario() -> None:
        c, nemesis = ElectingCluster(polls_until_elected=4), faults.StrandFollower()
        op = await nemesis.perform(c, {"f": "start-strand-follower",
                                       "value": {"pick": 0.7, "strand": 0.0, "sync_delay": 0.1}})
        v = op["value"]
        assert (v["partition"], v["node"], v["stranded"], v["nodes"]) == (1, "n4", "n3",
                                                                         ["n4", "n5"])
        # their disks stalled first, both killed before either restarts, and the stranded
        # follower (whose disk is sound) cut off both ways
        assert c.events == [("slow", "n4"), ("slow", "n5"), ("kill", "n4"), ("kill", "n5"),
                            ("restart", "n4"), ("restart", "n5")]
        assert c.net.cuts == {(a, b) for a in c.names for b in c.names
                              if a != b and "n3" in (a, b)}
        assert v["cut"] == {"n3": ["n1", "n2", "n4", "n5"]} and not c.down
        stop = await nemesis.stop(c)
        # the cut is healed only once a restarted member reports the new leader
        assert stop["f"] == "stop-strand-follower" and stop["value"]["elected"] == "n5"
        assert c.polls >= 4 and not c.net.cuts

    asyncio.run(scenario())


def test_strand_follower_heals_after_its_bound_when_no_election_is_seen(monkeypatch):
    monkeypatch.setattr(faults, "POLL", 0.001)
    monkeypatch.setattr(faults, "STRAND_ELECTION", 0.02)
    monkeypatch.setattr(faults, "STRAND_SLOWED", 0.0)

    async def scenario() -> None:
        c, nemesis = ElectingCluster(polls_until_elected=10 ** 9), faults.StrandFollower()
        nemesis.check(c)
        plan = nemesis.plan(c.names, random.Random(5))
        assert plan["f"] == "start-strand-follower"
        assert set(plan["value"]) == {"pick", "strand", "sync_delay"}
        assert 0.05 <= plan["value"]["sync_delay"] <= 0.3
        await nemesis.perform(c, {"f": "start-strand-follower",
                                  "value": {"pick": 0.0, "strand": 0.9, "sync_delay": 0.1}})
        assert nemesis.active["value"]["stranded"] == "n3"  # partition 0 led by n2
        stop = await nemesis.stop(c)
        assert stop["value"]["elected"] is None and not c.net.cuts

    asyncio.run(scenario())


def test_every_start_op_names_its_kind():
    assert faults.STARTS["start-strand-follower"] == "strand-follower"
    assert set(faults.STARTS.values()) == set(faults.KINDS)


class StatusOnly:
    """Names, a network and ``/admin/status``, and no other capability."""

    def __init__(self) -> None:
        self.names, self.net = ["n1", "n2", "n3"], FakeNet()

    def client_url(self, name: str) -> str:
        return ""

    async def admin_status(self, name: str) -> dict:
        return DYNAMODB


class KillableStatusOnly(StatusOnly):
    """Names, a network, ``/admin/status`` and kills (a host cluster's nodes), no disk
    control."""

    async def kill(self, name: str) -> None:
        pass

    async def restart(self, name: str) -> None:
        pass

    async def is_running(self, name: str) -> bool:
        return True


@pytest.mark.parametrize("kind, cluster, lacking", [
    (LeaderOneWay, FakeNet, "report their partitions' leaders"),
    (FlapOwners, FakeNet, "report their partitions' leaders"),
    (LeaderClock, StatusOnly, "clocks can be skewed"),
    (FlapOwners, StatusOnly, "can be killed"),
    (faults.StrandFollower, FakeNet, "report their partitions' leaders"),
    (faults.StrandFollower, StatusOnly, "can be killed"),
    (faults.StrandFollower, KillableStatusOnly, "disks can be slowed"),
    (FlapOwners, KillableStatusOnly, "disks can be slowed")])
def test_targeted_kinds_refuse_a_cluster_lacking_a_capability_in_one_sentence(kind, cluster,
                                                                              lacking):
    with pytest.raises(BadInput) as e:
        kind().check(cluster())
    assert lacking in str(e.value) and str(e.value).count(". ") == 0


def test_the_schedule_draws_every_new_kind_in_its_rounds():
    kinds = ("one-way,bridge,leader-latency,leader-one-way,leader-clock,flap-owners,"
             "strand-follower")
    schedule, rng = combined(kinds, 1.0), random.Random(0)
    drawn = [n.kind for _ in range(7) for n in schedule._next(rng)]
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
