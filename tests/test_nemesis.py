"""Fault kinds, the combined schedule and heal_all: against an in-memory fake cluster (what each
op does and records), then once against real nodes (every kind, healed at the end)."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Iterable

import pytest

from splitbrain.db.config import local_config
from splitbrain.errors import BadInput
from splitbrain.harness.cluster import Cluster, NodeUnreachable, local_cluster
from splitbrain.harness.interfaces import Link, Net
from splitbrain.nemesis import (Bridge, Clock, ClockRate, Crash, FlapOwners, IsolateLeader, Kill,
                                KillOwners, Latency, LeaderClock, LeaderLatency, LeaderOneWay,
                                OneWay, Partition, Pause, combined, faults, heal_all,
                                parse_kinds)
from splitbrain.nemesis import RejectLeader


class FakeNet(Net):
    kind = "fake"

    async def cut(self, links: Iterable[Link]) -> None:
        self.cuts = frozenset(links)

    async def heal(self) -> None:
        self.cuts = frozenset()

    async def delay(self, links: Iterable[Link], seconds: float) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        pass


class FakeCluster(Cluster):
    def __init__(self, n: int = 5):
        self.config = local_config("dynamo", n, "/nonexistent", ports=list(range(2 * n)))
        self.names = self.config.names
        self.net = FakeNet()
        self.down: set[str] = set()
        self.paused: set[str] = set()
        self.offsets: dict[str, float] = {}
        self.clock_calls = 0

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def kill(self, name: str) -> None:
        self.down.add(name)

    async def restart(self, name: str) -> None:
        self.down.discard(name)
        self.paused.discard(name)

    async def pause(self, name: str) -> None:
        self.paused.add(name)

    async def resume(self, name: str) -> None:
        self.paused.discard(name)

    async def is_running(self, name: str) -> bool:
        return name not in self.down

    def client_url(self, name: str) -> str:
        return ""

    async def collect_logs(self, dest: Path) -> None:
        pass

    async def set_clock_offset(self, name: str, seconds: float) -> None:
        self.clock_calls += 1
        if name in self.down or name in self.paused:
            raise NodeUnreachable(f"node {name} is unreachable")
        self.offsets[name] = seconds


def run(coro):
    return asyncio.run(coro)


def test_partition_cuts_the_planned_links_and_heals():
    async def scenario():
        c, p = FakeCluster(), Partition(("one",))
        op = await p.start(c, random.Random(1))
        lone = [n for n, bs in op["value"]["cut"].items() if len(bs) == 4]
        assert op["f"] == "start-partition" and len(lone) == 1
        assert len(c.net.cuts) == 8 and all(lone[0] in link for link in c.net.cuts)
        assert await p.stop(c) == {"f": "stop-partition", "value": {"topology": "one"}}
        assert c.net.cuts == frozenset()
        assert await p.stop(c) == {}

    run(scenario())


def test_kill_restarts_and_pause_resumes_the_same_nodes():
    async def scenario():
        c = FakeCluster()
        k = Kill(("majority",))
        op = await k.start(c, random.Random(2))
        assert op["f"] == "kill" and c.down == set(op["value"]["nodes"]) and len(c.down) == 3
        with pytest.raises(RuntimeError, match="already active"):
            await k.start(c, random.Random(2))
        assert await k.stop(c) == {"f": "restart", "value": op["value"]}
        assert c.down == set()
        p = Pause(("one",))
        op = await p.start(c, random.Random(3))
        assert op["f"] == "pause" and c.paused == set(op["value"]["nodes"])
        assert (await p.stop(c))["f"] == "resume" and c.paused == set()

    run(scenario())


def test_clock_bump_records_offsets_and_unreachable_targets_then_resets():
    async def scenario():
        c = FakeCluster(3)
        c.down.add("n2")
        clock = Clock(modes=("bump",))
        op = await clock.start(c, random.Random(4))
        offsets = op["value"]["offsets"]
        assert op["f"] == "bump-clock"
        assert all(1 <= abs(s) <= 256 for s in offsets.values())
        for n, s in offsets.items():
            assert (n in op["value"].get("failed", {})) if n == "n2" else c.offsets[n] == s
        stop = await clock.stop(c)
        assert stop["f"] == "reset-clock" and all(c.offsets[n] == 0 for n in offsets if n != "n2")

    run(scenario())


def test_clock_strobe_flips_offsets_until_stopped():
    async def scenario():
        c = FakeCluster(3)
        clock = Clock(modes=("strobe",), period=0.01)
        op = await clock.start(c, random.Random(5))
        assert op["f"] == "strobe-clock"
        target = c.clock_calls + 3 * len(op["value"]["nodes"])  # three flips of every node
        deadline = asyncio.get_running_loop().time() + 10
        while c.clock_calls < target:
            assert asyncio.get_running_loop().time() < deadline, \
                f"the strobe made {c.clock_calls} of {target} clock calls in 10 s"
            await asyncio.sleep(0.01)
        await clock.stop(c)
        settled = c.clock_calls
        await asyncio.sleep(0.05)
        assert c.clock_calls == settled
        assert all(c.offsets[n] == 0 for n in op["value"]["nodes"])

    run(scenario())


def test_combined_schedule_alternates_start_and_stop_and_records_both_halves():
    async def scenario():
        c, events = FakeCluster(), []
        schedule = combined("partition,kill,pause,clock", 0.03)
        await schedule.run(c, random.Random(6), lambda t, f, v: events.append((t, f, v)), 0.5)
        assert len(events) >= 8
        types = [t for t, _, _ in events]
        assert types[:4] == ["invoke", "info", "invoke", "info"]
        starts = {"start-partition", "kill", "pause", "bump-clock", "strobe-clock"}
        stops = {"stop-partition", "restart", "resume", "reset-clock"}
        fs = [f for t, f, _ in events if t == "invoke"]
        assert all(f in starts for f in fs[0::2]) and all(f in stops for f in fs[1::2])
        assert len({f for f in fs}) >= 4  # several kinds were drawn
        await schedule.heal(c, lambda t, f, v: events.append((t, f, v)))
        assert events[-1][:2] == ("info", "heal")
        assert not c.down and not c.paused and not c.net.cuts
        assert all(v == 0 for v in c.offsets.values())

    run(scenario())


def test_heal_all_restarts_resumes_heals_and_resets():
    async def scenario():
        c = FakeCluster()
        c.down |= {"n1", "n2"}
        c.paused.add("n3")
        c.offsets["n4"] = 30
        await c.net.cut([("n1", "n2")])
        op = await heal_all(c)
        assert op == {"f": "heal", "value": {"restarted": ["n1", "n2"]}}
        assert not c.down and not c.paused and not c.net.cuts and c.offsets["n4"] == 0

    run(scenario())


def test_nemesis_spec_errors_are_one_sentence():
    assert parse_kinds("partition, kill") == ["partition", "kill"]
    assert parse_kinds("none") == []
    with pytest.raises(BadInput, match="unknown nemesis 'flood'"):
        parse_kinds("partition,flood")
    with pytest.raises(BadInput, match="must be positive"):
        combined("kill", 0)


class QuickOneWay(LeaderOneWay):
    SECONDS = (0.05, 0.1)  # the cut follows the delay by this much


@pytest.mark.integration
def test_every_fault_kind_against_real_nodes_then_healed(tmp_path, monkeypatch):
    """Every fault kind on a real 3-node dynamo cluster; after the heal every node is up,
    sees every other as up, and has a zero clock offset and a clock running at rate 1."""
    monkeypatch.setattr(faults, "FLAP_DOWN", 0.1)  # the crash loop's timing is not tested here

    async def scenario():
        async with local_cluster("dynamo", 3, tmp_path / "c") as cluster:
            rng = random.Random(8)
            for nemesis in (Partition(("one",)), Kill(("one",)), Pause(("one",)),
                            Clock(modes=("bump",)), ClockRate(), Latency(), IsolateLeader(),
                            KillOwners(), OneWay(), Bridge(), LeaderLatency(), QuickOneWay(),
                            LeaderClock(), Crash(("one",)), FlapOwners(), RejectLeader()):
                op = await nemesis.start(cluster, rng)
                assert "failed" not in op["value"], op
                await asyncio.sleep(0.3)
                assert "failed" not in (await nemesis.stop(cluster)).get("value", {})
            await Kill(("one",)).start(cluster, rng)  # left for the final heal
            await Pause(("one",)).start(cluster, rng)
            op = await heal_all(cluster)
            assert len(op["value"]["restarted"]) == 1 and "failed" not in op["value"]
            for name in cluster.names:
                status = await cluster.admin_status(name)
                assert status["clock_offset"] == 0 and status["clock_rate"] == 1
            deadline = asyncio.get_running_loop().time() + 10
            while True:
                views = [(await cluster.admin_status(n))["members"] for n in cluster.names]
                if all(set(v.values()) == {"up"} for v in views):
                    break
                assert asyncio.get_running_loop().time() < deadline, views
                await asyncio.sleep(0.2)

    run(scenario())
