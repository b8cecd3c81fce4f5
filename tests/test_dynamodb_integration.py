"""Five real dynamodb node processes (LocalCluster, proxy network): kill -9 a partition leader,
partition a leader away with a minority, heal and converge. Each test bounds its cluster and
always tears it down."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from splitbrain.db.client import NodeClient
from splitbrain.db.dynamodb import partition_of, placement
from splitbrain.harness.cluster import LocalCluster, NodeUnreachable, local_cluster

pytestmark = pytest.mark.integration

LEASE = 1.0
PARAMS = dict(lease_ms=int(LEASE * 1000), heartbeat_ms=100, request_timeout_ms=1000,
              failure_timeout_ms=600)


def cluster(tmp_path: Path) -> LocalCluster:
    return local_cluster("dynamodb", 5, tmp_path / "cluster", **PARAMS)


def keys_in(p: int, partitions: int, count: int, prefix: str) -> list[str]:
    out, i = [], 0
    while len(out) < count:
        if partition_of(f"{prefix}{i}", partitions) == p:
            out.append(f"{prefix}{i}")
        i += 1
    return out


async def leader_of(c: LocalCluster, p: int, among: list[str]) -> str | None:
    """The node of ``among`` that leads partition ``p`` under a live lease."""
    for name in among:
        try:
            part = (await c.admin_status(name))["partitions"][str(p)]
        except NodeUnreachable:  # killed, paused or cut off: not a leader we can use
            continue
        if part.get("role") == "leader" and part.get("lease_expires_in"):
            return name
    return None


async def routing_to(c: LocalCluster, p: int, nodes: list[str], leader: str) -> bool:
    """Whether every node of ``nodes`` names ``leader`` as partition ``p``'s leader."""
    for n in nodes:
        if (await c.admin_status(n))["partitions"][str(p)].get("leader") != leader:
            return False
    return True


async def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout:g} s")
        await asyncio.sleep(0.05)


async def all_leaders(c: LocalCluster) -> None:
    groups = placement(c.names, c.config.partitions, c.config.replication)

    async def ready():
        return all([await leader_of(c, p, m) for p, m in groups.items()])

    await wait_for(ready, 10 * LEASE, "a leader for every partition")


async def ready_partition(c: LocalCluster, p: int) -> tuple[list[str], str, str]:
    """Once every partition has a leader: partition ``p``'s members, its leader, and a node
    outside its group."""
    await all_leaders(c)
    members = placement(c.names, c.config.partitions, c.config.replication)[p]
    leader = await leader_of(c, p, members)
    return members, leader, next(n for n in c.names if n not in members)


async def converged(c: LocalCluster, p: int, members: list[str]) -> bool:
    views = [(await c.admin_status(n))["partitions"][str(p)] for n in members]
    commits = {v["commit_index"][n] for v, n in zip(views, members)}
    return len(commits) == 1 and len({v["digest"] for v in views}) == 1


def test_kill_9_leader_new_leader_serves_and_no_acked_write_is_lost(tmp_path):
    async def main():
        async with cluster(tmp_path) as c:
            p = 0
            members, old, entry = await ready_partition(c, p)
            clients = [NodeClient(c.client_url(n), timeout=2.0) for n in c.names if n != old]
            keys = iter(keys_in(p, c.config.partitions, 400, "kill"))
            first_key = keys_in(p, c.config.partitions, 1, "kill")[0]
            acked: dict[str, tuple[int, int]] = {}
            stop = asyncio.Event()

            async def writer(client: NodeClient, w: int) -> None:
                for i, key in enumerate(keys):
                    if stop.is_set():
                        return
                    value = w * 10_000 + i
                    reply = await client.put(key, value)
                    if reply.type == "ok":
                        acked[key] = (value, reply.meta["version"])
                    await asyncio.sleep(0.01)

            try:
                tasks = [asyncio.ensure_future(writer(cl, w)) for w, cl in enumerate(clients)]
                await wait_for(lambda: asyncio.sleep(0, len(acked) >= 20), 10, "20 writes")
                before = len(acked)
                await c.kill(old)
                killed_at = time.monotonic()
                new = await wait_for(lambda: leader_of(c, p, [m for m in members if m != old]),
                                     5 * LEASE, "a new leader")
                probe = NodeClient(c.client_url(entry), timeout=2.0)
                read = await wait_for(
                    lambda: _ok(probe.get(first_key, consistency="strong")), 5 * LEASE,
                    "a strong read served by the new leader")
                served_after = time.monotonic() - killed_at
                assert served_after < 4 * LEASE, served_after
                await wait_for(lambda: asyncio.sleep(0, len(acked) >= before + 10), 5 * LEASE,
                               "10 writes acknowledged after the kill")
                stop.set()
                await asyncio.gather(*tasks)
                await c.restart(old)
                # Every acknowledged write is there, with its version, at the leader ...
                for key, (value, version) in acked.items():
                    reply = await probe.get(key, consistency="strong")
                    assert reply.type == "ok" and reply.value == [value], (key, reply)
                    assert reply.meta["version"] == version
                # ... and the restarted replica catches up to the same state.
                await wait_for(lambda: converged(c, p, members), 10 * LEASE,
                               "all replicas converged")
                assert new != old and read.type == "ok"
                await probe.close()
            finally:
                stop.set()
                for cl in clients:
                    await cl.close()

    asyncio.run(asyncio.wait_for(main(), 120))


async def _ok(coro):
    reply = await coro
    return reply if reply.type == "ok" else None


def test_minority_side_refuses_majority_serves_and_all_converge_after_healing(tmp_path):
    async def main():
        async with cluster(tmp_path) as c:
            p = 1
            members, old, outsider = await ready_partition(c, p)
            minority = [old, outsider]
            majority = [n for n in c.names if n not in minority]
            key = keys_in(p, c.config.partitions, 1, "part")[0]
            cl = {n: NodeClient(c.client_url(n), timeout=2.5) for n in c.names}
            try:
                first = await cl[old].put(key, "before")
                assert first.type == "ok", first
                await c.net.cut([(a, b) for a in minority for b in majority]
                                + [(b, a) for a in minority for b in majority])
                cut_at = time.monotonic()
                new = await wait_for(lambda: leader_of(c, p, [m for m in members if m != old]),
                                     5 * LEASE, "a leader on the majority side")
                # Only once the old lease has run out can a new leader take over.
                assert time.monotonic() - cut_at >= LEASE * 0.9 - 0.2
                # the new leader tells the routers within a heartbeat
                await wait_for(lambda: routing_to(c, p, majority, new), 5 * LEASE,
                               f"every majority node routing partition {p} to {new}")
                for n in majority:
                    w = await cl[n].put(key, f"majority-{n}")
                    assert w.type == "ok", (n, w)
                    r = await cl[n].get(key, consistency="strong")
                    assert r.type == "ok" and r.value == [f"majority-{n}"], (n, r)
                maybe = {f"majority-{majority[-1]}"}
                for n in minority:
                    w = await cl[n].put(key, f"minority-{n}")
                    assert w.type in ("fail", "info"), (n, w)
                    assert w.error in ("unavailable", "timeout"), (n, w)
                    if w.type == "info":  # forwarded and held by the cut: may apply later
                        maybe.add(f"minority-{n}")
                    r = await cl[n].get(key, consistency="strong")
                    assert r.type == "fail", (n, r)
                stale = await cl[old].get(key, consistency="eventual")
                assert stale.type == "ok" and stale.value == ["before"], stale
                await c.net.heal()
                await wait_for(lambda: converged(c, p, members), 10 * LEASE,
                               "all replicas converged")
                finals = set()
                for n in members:
                    r = await cl[n].get(key, consistency="eventual")
                    finals.add(r.value[0])
                assert len(finals) == 1 and finals <= maybe, (finals, maybe)
                assert new in majority
            finally:
                for client in cl.values():
                    await client.close()

    asyncio.run(asyncio.wait_for(main(), 120))


def test_a_paused_leader_resumes_without_serving_a_stale_strong_read(tmp_path):
    async def main():
        async with cluster(tmp_path) as c:
            p = 2
            members, old, _ = await ready_partition(c, p)
            key = keys_in(p, c.config.partitions, 1, "pause")[0]
            cl = {n: NodeClient(c.client_url(n), timeout=2.5) for n in c.names}
            try:
                assert (await cl[old].put(key, "old")).type == "ok"
                # Cut off as well, so that on resuming it hears of no new leader: only its
                # lease, measured on its own clock, keeps it from answering.
                others = [n for n in c.names if n != old]
                await c.net.cut([(old, n) for n in others] + [(n, old) for n in others])
                await c.pause(old)
                await wait_for(lambda: leader_of(c, p, [m for m in members if m != old]),
                               5 * LEASE, "a new leader while the old one is paused")
                other = next(m for m in members if m != old)
                assert (await cl[other].put(key, "new")).type == "ok"
                await c.resume(old)
                # Its lease ran out while it was stopped: it answers the new value or refuses.
                for _ in range(20):
                    r = await cl[old].get(key, consistency="strong")
                    assert r.type == "fail" or r.value == ["new"], r
                    await asyncio.sleep(0.05)
                await c.net.heal()
                await wait_for(lambda: _ok(cl[old].get(key, consistency="strong")), 5 * LEASE,
                               "the resumed node routing strong reads to the new leader")
            finally:
                for client in cl.values():
                    await client.close()

    asyncio.run(asyncio.wait_for(main(), 120))
