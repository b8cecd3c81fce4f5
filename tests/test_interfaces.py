"""The harness interfaces: optional capabilities are checked, not assumed; a fault kind refuses,
in one sentence, a cluster without the capability it needs; heal_all heals only what a cluster
can heal; node ops map to actions through the explicit table."""

from __future__ import annotations

import asyncio
import random
from typing import Iterable

import pytest

from splitbrain.errors import BadInput
from splitbrain.harness.interfaces import (ClockControl, Killable, Link, LogSource, Net, Nodes,
                                           Pausable)
from splitbrain.nemesis import combined, heal_all
from splitbrain.nemesis.faults import KINDS, NODE_ACTIONS, NodeFault


class CutOnlyNet(Net):
    kind = "cut-only"

    async def cut(self, links: Iterable[Link]) -> None:
        self.cuts = frozenset(links)

    async def heal(self) -> None:
        self.cuts = frozenset()

    async def delay(self, links: Iterable[Link], seconds: float) -> None:
        raise BadInput("no delays here")

    async def close(self) -> None:
        pass


class BareNodes:
    """Nodes with a network and nothing else: no kill, no pause, no clock, no logs."""

    def __init__(self) -> None:
        self.names = ["n1", "n2", "n3"]
        self.net = CutOnlyNet()

    def client_url(self, name: str) -> str:
        return f"http://{name}"


def test_a_bare_cluster_has_only_the_nodes_interface():
    nodes = BareNodes()
    assert isinstance(nodes, Nodes)
    assert not any(isinstance(nodes, cap) for cap in (Killable, Pausable, ClockControl,
                                                       LogSource))


@pytest.mark.parametrize("kind, words", [
    ("kill", "the kill nemesis needs nodes that can be killed and restarted; the BareNodes "
             "cluster has none; drop kill from --nemesis"),
    ("pause", "the pause nemesis needs nodes that can be paused and resumed"),
    ("clock", "the clock nemesis needs nodes whose clocks can be skewed"),
])
def test_a_fault_kind_refuses_a_cluster_without_its_capability(kind, words):
    schedule = combined(f"partition,{kind}", 1.0)
    with pytest.raises(BadInput) as e:
        schedule.check(BareNodes())
    assert str(e.value).startswith(words)
    with pytest.raises(BadInput):  # run() refuses too, before any fault
        asyncio.run(schedule.run(BareNodes(), random.Random(1), lambda *a: None, 0.1))


def test_partitions_need_only_the_network():
    combined("partition", 1.0).check(BareNodes())


def test_heal_all_heals_only_what_the_cluster_can():
    nodes = BareNodes()

    async def scenario():
        await nodes.net.cut([("n1", "n2")])
        return await heal_all(nodes)

    assert asyncio.run(scenario()) == {"f": "heal", "value": {"restarted": []}}
    assert nodes.net.cuts == frozenset()


def test_every_node_fault_op_has_an_action_in_the_table():
    ops = {f for kind in KINDS.values() if issubclass(kind, NodeFault)
           for f in (kind.start_f, kind.stop_f)}
    assert ops == set(NODE_ACTIONS)
