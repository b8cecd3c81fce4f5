"""The ``reject-leader`` fault: which links it rejects and when, its heal, and its refusal (with
``lag-successor``'s) of a network that cannot reset links."""

from __future__ import annotations

import asyncio
import random
from typing import Iterable

import pytest

from splitbrain.errors import BadInput
from splitbrain.harness.interfaces import Link
from splitbrain.nemesis import faults
from splitbrain.nemesis import LagSuccessor, RejectLeader
from splitbrain.nemesis.faults import STARTS
from test_nemesis import FakeNet
from test_nemesis_faults import LoggingCluster
from test_nemesis_rounds import DYNAMODB, StatusCluster

OTHERS = ["n1", "n2", "n3", "n5"]  # DYNAMODB's partition 1 is led by n4


class ResettingNet(FakeNet):
    """A fake network that records its reject cuts, with the loop time of each."""

    def __init__(self) -> None:
        self.rejects: list[tuple[float, frozenset[Link]]] = []

    async def reset(self, links: Iterable[Link]) -> None:
        raise NotImplementedError

    async def reject(self, links: Iterable[Link]) -> None:
        self.cuts = frozenset(links)
        self.rejects.append((asyncio.get_running_loop().time(), self.cuts))


def test_reject_leader_rejects_the_leaders_inbound_links_then_its_sends_then_heals():
    plan = RejectLeader().plan(["n1", "n2", "n3"], random.Random(4))
    assert plan["f"] == "start-reject-leader" and STARTS[plan["f"]] == "reject-leader"
    assert 0.5 <= plan["value"]["seconds"] <= 1.5 and 0 <= plan["value"]["pick"] < 1

    async def scenario() -> None:
        c, nemesis = StatusCluster(DYNAMODB), RejectLeader()
        c.net = net = ResettingNet()
        nemesis.check(c)
        op = await nemesis.perform(c, {"f": "start-reject-leader",
                                       "value": {"pick": 0.7, "seconds": 0.05}})
        v = op["value"]
        assert (v["node"], v["leads"]) == ("n4", [1])
        into = frozenset((a, "n4") for a in OTHERS)
        out = frozenset(("n4", b) for b in OTHERS)
        (t1, first), (t2, second) = net.rejects
        assert first == into and second == into | out and t2 - t1 >= 0.05
        assert v["rejected"] == {a: ["n4"] for a in OTHERS} and v["cut"] == {"n4": OTHERS}
        stop = await nemesis.stop(c)
        assert stop == {"f": "stop-reject-leader", "value": {"node": "n4"}}
        assert not net.cuts

    asyncio.run(scenario())


@pytest.mark.parametrize("kind", [RejectLeader, LagSuccessor])
def test_the_rejecting_kinds_refuse_a_network_that_cannot_reset_links_in_one_sentence(kind):
    with pytest.raises(BadInput) as e:
        kind().check(LoggingCluster(DYNAMODB))
    message = str(e.value)
    assert "can reset links" in message and "DelayNet network has none" in message
    assert "--net proxy" in message and message.count(". ") == 0
    assert kind.kind in message and kind.kind in faults.KINDS
