"""The ``lag-successor`` fault: whom it picks, the order of its rejects, stall and kill around
the successor's candidacy and election, its completion values, its heal, and what it refuses."""

from __future__ import annotations

import asyncio
import json
import random

from splitbrain.nemesis import LagSuccessor
from splitbrain.nemesis import faults
from test_nemesis_faults import LoggingCluster
from test_nemesis_reject import ResettingNet
from test_nemesis_rounds import DYNAMO, DYNAMODB, StatusCluster

# Partition 1 (n3, n4, n5, led by n4) has committed the most: n4 is the old leader, n3 (its
# first other replica) the successor, n5 the follower whose disk stalls.
BUSY = json.loads(json.dumps(DYNAMODB))
BUSY["partitions"]["0"]["commit_index"] = {"n1": 3, "n2": 4, "n3": 4}
BUSY["partitions"]["1"]["commit_index"] = {"n3": 7, "n4": 9, "n5": 9}


class ElectionCluster(LoggingCluster):
    """BUSY, where the successor n3 reports ``candidate`` for partition 1 once n4 was killed
    and it was polled ``stands`` times, and ``leader`` ``leads`` polls later (never, for a
    huge number). Records each reject in ``events`` as it happens."""

    def __init__(self, stands: int, leads: int):
        super().__init__(BUSY)
        self.stands, self.leads, self.polls = stands, leads, 0
        self.net = ResettingNet()

    async def admin_status(self, name: str) -> dict:
        status = json.loads(json.dumps(self.status))
        if name == "n3" and ("kill", "n4") in self.events:
            self.polls += 1
            role = ("leader" if self.polls >= self.stands + self.leads else
                    "candidate" if self.polls >= self.stands else "follower")
            status["partitions"]["1"]["role"] = role
            self.events.append(("poll", role))
        return status


def _rejects(net: ResettingNet) -> list[frozenset]:
    return [links for _, links in net.rejects]


def test_lag_successor_lags_the_successor_kills_the_leader_and_loses_its_first_batch(
        monkeypatch):
    monkeypatch.setattr(faults, "POLL", 0.0)
    monkeypatch.setattr(faults, "LAG_SETTLE", 0.0)
    plan = LagSuccessor().plan(["n1", "n2", "n3"], random.Random(3))
    assert plan["f"] == "start-lag-successor" and faults.STARTS[plan["f"]] == "lag-successor"
    assert set(plan["value"]) == {"pick", "lag", "sync_delay"}
    assert plan == LagSuccessor().plan(["n1", "n2", "n3"], random.Random(3))  # pure, seeded

    async def scenario() -> None:
        c, nemesis = ElectionCluster(stands=3, leads=2), LagSuccessor()
        nemesis.check(c)
        op = await nemesis.perform(c, {"f": "start-lag-successor",
                                       "value": {"pick": 0.0, "lag": 0.01, "sync_delay": 0.3}})
        v = op["value"]
        assert (v["partition"], v["node"], v["successor"], v["follower"]) == (1, "n4", "n3",
                                                                             "n5")
        assert (v["candidate"], v["elected"]) == ("n3", "n3")
        assert v["rejected"] == {"n4": ["n3"], "n3": ["n5"]}
        # old->successor rejects and the follower's disk stalls before the kill; the
        # successor->follower reject begins only once it stands, and all heals once it leads
        assert _rejects(c.net) == [frozenset({("n4", "n3")}),
                                   frozenset({("n4", "n3"), ("n3", "n5")})]
        kinds = [e for e in c.events if e[0] != "poll"]
        assert kinds == [("slow", "n5"), ("kill", "n4")]
        polls = [r for f, r in c.events if f == "poll"]
        assert polls == ["follower"] * 2 + ["candidate"] * 2 + ["leader"]
        assert not c.net.cuts and c.down == {"n4"}
        stop = await nemesis.stop(c)
        assert stop == {"f": "stop-lag-successor", "value": {"node": "n4", "follower": "n5"}}
        assert c.events[-2:] == [("slow", "n5"), ("restart", "n4")] and not c.down
        assert not c.net.cuts

    asyncio.run(scenario())


def test_lag_successor_heals_after_its_bound_when_the_successor_never_stands(monkeypatch):
    monkeypatch.setattr(faults, "POLL", 0.001)
    monkeypatch.setattr(faults, "LAG_ELECTION", 0.02)

    async def scenario() -> None:
        c, nemesis = ElectionCluster(stands=10 ** 9, leads=0), LagSuccessor()
        op = await nemesis.perform(c, {"f": "start-lag-successor",
                                       "value": {"pick": 0.0, "lag": 0.0, "sync_delay": 0.3}})
        v = op["value"]
        assert (v["candidate"], v["elected"]) == (None, None)
        assert _rejects(c.net) == [frozenset({("n4", "n3")})] and not c.net.cuts
        assert v["rejected"] == {"n4": ["n3"]}

    asyncio.run(scenario())


def test_lag_successor_in_a_leaderless_mode_waits_for_no_election():
    async def scenario() -> None:
        c, nemesis = LoggingCluster(DYNAMO), LagSuccessor()
        c.net = ResettingNet()
        op = await nemesis.perform(c, {"f": "start-lag-successor",
                                       "value": {"pick": 0.0, "lag": 0.0, "sync_delay": 0.3}})
        v = op["value"]  # the range at 0.0 is owned by n4, n1, n5
        assert (v["node"], v["successor"], v["follower"]) == ("n4", "n1", "n5")
        assert "partition" not in v and (v["candidate"], v["elected"]) == (None, None)
        assert c.events == [("slow", "n5"), ("kill", "n4")]

    asyncio.run(scenario())

