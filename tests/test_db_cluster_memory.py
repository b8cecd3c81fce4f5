"""Five dynamo/lww nodes in one process on an in-memory network (no sockets, no files)."""

from __future__ import annotations

import asyncio
import copy
from typing import Callable

import pytest

from splitbrain.db.config import local_config
from splitbrain.db.dynamo import HINTS, KV, DynamoStore
from splitbrain.db.env import LinkFaults, MemoryNetwork, MemoryStorage, memory_env
from splitbrain.db.errors import NodeError

FAST = dict(request_timeout_ms=300, gossip_interval_ms=40, failure_timeout_ms=300,
            hint_interval_ms=60, anti_entropy_interval_ms=40)


class MemoryCluster:
    def __init__(self, mode: str, **params):
        self.config = local_config(mode, 5, "/nonexistent", ports=list(range(1, 11)),
                                   **{**FAST, **params})
        self.net = MemoryNetwork()
        self.storages = {name: MemoryStorage() for name in self.config.names}
        self.nodes: dict[str, DynamoStore] = {}

    async def start(self, name: str) -> DynamoStore:
        env = memory_env(name, self.net, config=self.config, storage=self.storages[name])
        await env.transport.start()
        store = DynamoStore(env)
        await store.start()
        self.nodes[name] = store
        return store

    async def stop(self, name: str) -> None:
        store = self.nodes.pop(name)
        await store.env.transport.close()
        await store.stop()

    async def __aenter__(self) -> "MemoryCluster":
        for name in self.config.names:
            await self.start(name)
        return self

    async def __aexit__(self, *exc) -> None:
        for name in list(self.nodes):
            await self.stop(name)

    def local_values(self, name: str, key: str) -> list:
        """What node ``name`` itself stores for ``key`` (no quorum, so no read repair)."""
        return sorted(s[-1] for s in self.storages[name].get(KV, key) or [])


async def eventually(pred: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not pred():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def run(coro):
    return asyncio.run(coro)


def test_concurrent_blind_writes_are_siblings_in_dynamo_mode():
    async def go():
        async with MemoryCluster("dynamo") as c:
            await asyncio.gather(c.nodes["n1"].put("k", "a"), c.nodes["n2"].put("k", "b"),
                                 c.nodes["n3"].put("k", "c"))
            read = await c.nodes["n4"].get("k")
            assert sorted(read.values) == ["a", "b", "c"]
            # A write with the read's context replaces the siblings it saw, and only those.
            await c.nodes["n5"].put("k", "d")
            await c.nodes["n5"].put("k", "merged", context=read.context)
            after = await c.nodes["n1"].get("k", r=3)
            assert sorted(after.values) == ["d", "merged"]

    run(go())


def test_concurrent_blind_writes_leave_one_winner_in_lww_mode():
    async def go():
        async with MemoryCluster("lww") as c:
            results = await asyncio.gather(*(c.nodes[n].put("k", n) for n in c.config.names))
            read = await c.nodes["n1"].get("k", r=3)
            winner = max(zip((r.ts for r in results), c.config.names))
            assert read.values == [winner[1]] and read.ts == winner[0]
            owners = c.nodes["n1"].ring.owners("k", 3)
            await eventually(lambda: all(c.local_values(o, "k") == [winner[1]] for o in owners))

    run(go())


def test_write_through_a_fallback_reaches_its_owner_by_handoff():
    async def go():
        async with MemoryCluster("dynamo") as c:
            ring = c.nodes["n1"].ring
            key = "handoff-key"
            pref = ring.preference_list(key)
            owner, fallback, coordinator = pref[2], pref[3], pref[0]
            await c.stop(owner)
            await eventually(lambda: not c.nodes[coordinator].membership.is_up(owner))
            await c.nodes[coordinator].put(key, "v", w=3)
            assert c.nodes[fallback].status()["hints_pending"] == 1
            assert c.local_values(owner, key) == []
            await c.start(owner)
            await eventually(lambda: c.local_values(owner, key) == ["v"])
            await eventually(lambda: c.nodes[fallback].status()["hints_pending"] == 0)

    run(go())


def test_replicas_converge_by_anti_entropy_alone():
    async def go():
        async with MemoryCluster("dynamo", vnodes=4, hint_interval_ms=100_000) as c:
            ring = c.nodes["n1"].ring
            keys = [f"ae-{i}" for i in range(30)]
            victim = "n3"
            mine = [k for k in keys if victim in ring.owners(k, 3)]
            assert mine
            c.net.isolate(victim)  # it misses the writes; nobody suspects it long enough
            for k in mine:
                coordinator = next(o for o in ring.owners(k, 3) if o != victim)
                await c.nodes[coordinator].put(k, k, w=2)
            assert all(c.local_values(victim, k) == [] for k in mine)
            assert c.nodes["n1"].status()["hints_pending"] == 0
            c.net.heal()
            await eventually(lambda: all(c.local_values(victim, k) == [k] for k in mine),
                             timeout=10)

    run(go())


@pytest.mark.parametrize("mode", ["dynamo", "lww"])
def test_acknowledged_writes_survive_a_crash_of_every_node(mode):
    async def go():
        async with MemoryCluster(mode) as c:
            names = c.config.names
            results = await asyncio.gather(*(c.nodes[names[i % 5]].put(f"d{i}", i)
                                             for i in range(60)))
            assert all(r is not None for r in results)
            for name in names:
                await c.stop(name)
                c.storages[name].crash()
            for name in names:
                await c.start(name)
            for i in range(60):
                read = await c.nodes[names[(i + 2) % 5]].get(f"d{i}")
                assert read.values == [i]

    run(go())


def test_a_coordinator_that_lost_an_unsynced_write_never_reuses_its_dot():
    """The coordinator crashes after its replicas stored a write but before its own fsync;
    restarted, it must name its next write with a new dot, or one of the two would vanish."""

    async def go():
        async with MemoryCluster("dynamo") as c:
            key = "dot-reuse"
            coordinator = c.nodes["n1"].ring.owners(key, 3)[0]
            before = copy.deepcopy(c.storages[coordinator])
            await c.nodes[coordinator].put(key, "A")
            await c.stop(coordinator)
            c.storages[coordinator] = before  # as if its fsync of "A" never happened
            await c.start(coordinator)
            await c.nodes[coordinator].put(key, "B")
            other = next(n for n in c.config.names if n != coordinator)
            assert sorted((await c.nodes[other].get(key, r=3)).values) == ["A", "B"]

    run(go())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_acknowledged_write_is_lost_on_a_lossy_duplicating_reordering_network(seed):
    """Blind writes never cover each other, so after the network calms down every replica of
    a key must hold every write that was acknowledged (and nothing never written)."""

    async def go():
        async with MemoryCluster("dynamo") as c:
            c.net.rng.seed(seed)
            c.net.faults = LinkFaults(drop=0.05, duplicate=0.1, reorder=0.2, max_delay=0.02)
            names = c.config.names
            keys = [f"lossy-{i}" for i in range(5)]

            async def write(i: int) -> tuple[str, int, bool]:
                key = keys[i % len(keys)]
                try:
                    await c.nodes[names[i % 5]].put(key, i)
                    return key, i, True
                except NodeError:
                    return key, i, False

            results = await asyncio.gather(*(write(i) for i in range(100)))
            c.net.faults = LinkFaults()
            acked = {(k, i) for k, i, ok in results if ok}
            assert len(acked) > 50 and c.net.dropped > 0
            ring = c.nodes["n1"].ring
            for key in keys:
                want = sorted(i for k, i in acked if k == key)
                written = {i for k, i, _ in results if k == key}
                for owner in ring.owners(key, 3):
                    await eventually(lambda: set(want) <= set(c.local_values(owner, key)),
                                     timeout=10)
                    assert set(c.local_values(owner, key)) <= written

    run(go())


@pytest.mark.parametrize("mode", ["dynamo", "lww"])
def test_a_write_coordinated_by_a_fallback_reaches_the_owners(mode):
    """Every owner of the key is down; a node outside them takes the write (and in dynamo mode
    a second write that read the first replaces it). The owners get the result by handoff."""

    async def go():
        async with MemoryCluster(mode) as c:
            key = "orphan"
            pref = c.nodes["n1"].ring.preference_list(key)
            owners, coordinator = pref[:3], pref[3]
            for owner in owners:
                await c.stop(owner)
            await eventually(lambda: not any(c.nodes[coordinator].membership.is_up(o)
                                             for o in owners))
            await c.nodes[coordinator].put(key, "first")
            read = await c.nodes[pref[4]].get(key)
            assert read.values == ["first"]
            await c.nodes[coordinator].put(key, "second", context=read.context)
            for owner in owners:
                await c.start(owner)
            await eventually(lambda: all(c.local_values(o, key) == ["second"] for o in owners))
            await eventually(lambda: all(c.nodes[n].status()["hints_pending"] == 0
                                         for n in pref[3:]))
            # What the fallbacks held was hints, now handed off: no stray copy stays behind.
            assert all(c.local_values(n, key) == [] for n in pref[3:])

    run(go())


def test_read_repair_at_a_fallback_coordinator_updates_its_hint_not_its_own_data():
    """The node reached stands in for a down owner and returned a stale hint to its own read:
    the repair goes into that hint (handed off later), never into data it does not own."""

    async def go():
        async with MemoryCluster("dynamo") as c:
            key = "repair-at-fallback"
            pref = c.nodes["n1"].ring.preference_list(key)
            owner, fallback = pref[2], pref[3]
            await c.stop(owner)
            await eventually(lambda: not any(c.nodes[n].membership.is_up(owner)
                                             for n in (pref[0], pref[1], fallback)))
            await c.nodes[pref[0]].put(key, "old", w=3)
            stale = copy.deepcopy(c.storages[fallback].get(HINTS, (owner, key)))
            assert stale
            read = await c.nodes[pref[0]].get(key, r=3)
            await c.nodes[pref[0]].put(key, "new", context=read.context, w=3)
            c.storages[fallback].put(HINTS, (owner, key), stale)  # as if it missed "new"
            assert (await c.nodes[fallback].get(key, r=3)).values == ["new"]
            await eventually(lambda: [s[-1] for s in c.storages[fallback].get(
                HINTS, (owner, key))] == ["new"])
            assert c.local_values(fallback, key) == []

    run(go())


@pytest.mark.parametrize("mode", ["dynamo", "lww"])
def test_replies_count_the_replicas_that_answered_and_the_fallbacks_among_them(mode):
    async def go():
        async with MemoryCluster(mode) as c:
            key = "counted"
            pref = c.nodes["n1"].ring.preference_list(key)
            # Through a node that owns nothing of the key: dynamo forwards the put to an owner,
            # whose counts come back with the answer.
            written = await c.nodes[pref[4]].put(key, "a", w=3)
            assert written.quorum == {"needed": 3, "answered": 3, "fallbacks": 0}
            read = await c.nodes[pref[0]].get(key, r=3)
            assert read.quorum == {"needed": 3, "answered": 3, "fallbacks": 0}
            await c.stop(pref[2])
            await eventually(lambda: not c.nodes[pref[0]].membership.is_up(pref[2]))
            written = await c.nodes[pref[0]].put(key, "b", w=3, context=read.context)
            assert written.quorum == {"needed": 3, "answered": 3, "fallbacks": 1}
            read = await c.nodes[pref[0]].get(key, r=3)
            assert read.quorum == {"needed": 3, "answered": 3, "fallbacks": 1}
            assert read.values == ["b"]

    run(go())


def test_repair_converges_every_owned_range_at_once():
    async def go():
        async with MemoryCluster("lww", anti_entropy_interval_ms=60_000) as c:
            keys = [f"r{i}" for i in range(20)]
            for key in keys:  # each on its first owner only, as if the others missed it
                owner = c.nodes["n1"].ring.owners(key, 3)[0]
                c.nodes[owner]._apply(key, [[1.0, owner, key]])
            roots = lambda: [c.nodes[n].status()["merkle_roots"] for n in c.config.names]  # noqa
            started = sum(c.nodes[n].repair() for n in c.config.names)
            assert started == sum(2 * len(c.nodes[n].owned) for n in c.config.names)
            await eventually(lambda: all(c.local_values(o, k) == [k] for k in keys
                                         for o in c.nodes["n1"].ring.owners(k, 3)), timeout=3)
            by_range: dict = {}
            for status in roots():
                for rng, root in status.items():
                    by_range.setdefault(rng, set()).add(root)
            assert all(len(r) == 1 for r in by_range.values())

    run(go())
