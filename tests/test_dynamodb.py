"""The dynamodb store on five nodes in one process, over the in-memory environment."""

from __future__ import annotations

import asyncio
import itertools
import json
import random

import msgpack
import pytest

from splitbrain.db.config import local_config
from splitbrain.db.dynamodb import DEDUP_OPS, DynamoDBStore, KVState, partition_of, placement
from splitbrain.db.env import MemoryClock, MemoryNetwork, MemoryStorage, memory_env
from splitbrain.db.errors import NodeError

LEASE_MS, HEARTBEAT_MS = 300, 50


class MemCluster:
    def __init__(self, nodes: int = 5, seed: int = 0, snapshot_every: int = 1000):
        self.config = local_config("dynamodb", nodes, "/nonexistent", ports=list(range(2 * nodes)),
                                   lease_ms=LEASE_MS, heartbeat_ms=HEARTBEAT_MS,
                                   request_timeout_ms=500, failure_timeout_ms=300)
        self.net = MemoryNetwork(rng=random.Random(seed))
        self.storages = {n: MemoryStorage() for n in self.config.names}
        self.stores: dict[str, DynamoDBStore] = {}
        self.seed = seed
        self.snapshot_every = snapshot_every

    async def start(self, name: str) -> None:
        env = memory_env(name, self.net, seed=self.seed, config=self.config,
                         storage=self.storages[name], clock=MemoryClock())
        store = DynamoDBStore(env)
        store.timing.snapshot_every = self.snapshot_every
        await env.transport.start()
        await store.start()
        self.stores[name] = store

    async def start_all(self) -> None:
        for n in self.config.names:
            await self.start(n)
        await self.until(lambda: all(self.leader(p) for p in range(self.config.partitions)))

    async def crash(self, name: str) -> None:
        store = self.stores.pop(name)
        await store.stop()
        await store.env.transport.close()
        self.storages[name].crash()

    async def stop_all(self) -> None:
        for n in list(self.stores):
            await self.crash(n)

    async def __aenter__(self) -> "MemCluster":
        await self.start_all()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop_all()

    def leader(self, p: int) -> str | None:
        for n, s in self.stores.items():
            r = s.host.replicas.get(p)
            if r is not None and r.serving(s.host.now()):
                return n
        return None

    async def until(self, cond, timeout: float = 5.0) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while not cond():
            assert loop.time() < end, "condition not reached in time"
            await asyncio.sleep(0.01)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def test_placement_spreads_groups_and_leaders():
    groups = placement(["n1", "n2", "n3", "n4", "n5"], 8, 3)
    assert all(len(set(m)) == 3 for m in groups.values())
    firsts = [m[0] for m in groups.values()]
    assert set(firsts) == {"n1", "n2", "n3", "n4", "n5"}
    load = {n: sum(n in m for m in groups.values()) for n in ["n1", "n2", "n3", "n4", "n5"]}
    assert max(load.values()) - min(load.values()) <= 1
    assert len({partition_of(f"key{i}", 8) for i in range(200)}) == 8


def test_kv_state_ops_and_conditions():
    s = KVState()
    ids = itertools.count()

    def apply(op):
        return s.apply({**op, "id": f"op{next(ids)}"})

    assert apply({"f": "put", "k": "a", "v": 1, "cond": {"absent": True}})["version"] == 1
    assert apply({"f": "put", "k": "a", "v": 2, "cond": {"absent": True}})["error"] == \
        "condition-failed"
    assert apply({"f": "put", "k": "a", "v": 3, "cond": {"equals": 1}})["version"] == 2
    assert apply({"f": "put", "k": "a", "v": 4, "cond": {"version": 1}})["error"] == \
        "condition-failed"
    assert apply({"f": "put", "k": "a", "v": 4, "cond": {"version": 2}})["values"] == [4]
    assert apply({"f": "add", "k": "c", "v": 5})["values"] == [5]
    assert apply({"f": "add", "k": "c", "v": -2})["values"] == [3]
    assert apply({"f": "add", "k": "s", "v": 1})["values"] == [1]
    assert apply({"f": "add_to_set", "k": "s", "v": 1})["error"] == "bad-request"
    apply({"f": "add_to_set", "k": "t", "v": "b"})
    apply({"f": "add_to_set", "k": "t", "v": "a"})
    assert apply({"f": "add_to_set", "k": "t", "v": "b"})["values"] == [["a", "b"]]
    for e in [10, "x", 9, {"a": 1}, 9, 2.5]:
        apply({"f": "add_to_set", "k": "u", "v": e})
    assert s.items["u"][0] == [2.5, 9, 10, "x", {"a": 1}]
    copy = KVState()
    copy.restore(s.snapshot())
    assert copy.items == s.items and copy.writes == s.writes


def test_ops_through_every_node_with_forwarding():
    async def main():
        async with MemCluster() as c:
            n1 = c.stores["n1"]
            w = await n1.put("x", 1)
            assert w.version >= 1
            # Every node answers for every key: it serves, or forwards to the leader.
            for name, store in c.stores.items():
                r = await store.get("x", consistency="strong")
                assert r.values == [1] and r.version == w.version, name
            w2 = await c.stores["n4"].put("x", 2, condition={"version": w.version})
            assert w2.version > w.version
            with pytest.raises(NodeError) as e:
                await c.stores["n2"].put("x", 3, condition={"version": w.version})
            assert e.value.code == "condition-failed" and e.value.definite
            with pytest.raises(NodeError) as e:
                await c.stores["n3"].put("x", 3, condition={"absent": True})
            assert e.value.code == "condition-failed"
            assert (await c.stores["n5"].put("y", 0, condition={"absent": True})).version >= 1
            assert (await c.stores["n5"].add("ctr", 2)).values == [2]
            assert (await c.stores["n1"].add("ctr", 3)).values == [5]
            assert (await c.stores["n2"].add_to_set("set", 7)).values == [[7]]
            assert (await c.stores["n3"].add_to_set("set", 3)).values == [[3, 7]]
            with pytest.raises(NodeError) as e:
                await c.stores["n3"].add("set", 1)
            assert e.value.code == "bad-request" and e.value.definite
            with pytest.raises(NodeError) as e:
                await n1.put("x", 1, condition={"version": -1})
            assert e.value.code == "bad-request"
            with pytest.raises(NodeError) as e:
                await n1.get("x", consistency="linearizable")
            assert e.value.code == "bad-request"
            absent = await n1.get("never-written", consistency="strong")
            assert absent.values == [] and absent.version == 0
            # Eventual reads at every replica converge on the last write.
            p = partition_of("x", c.config.partitions)
            await c.until(lambda: all(
                c.stores[n].states[p].read("x").values == [2] for n in c.stores[n1.name].groups[p]))
            status = n1.status()
            part = status["partitions"][str(p)]
            assert part["replicas"] == n1.groups[p]
            assert set(status["members"].values()) == {"up"}

    run(main())


def test_concurrent_writes_are_batched_and_all_acknowledged():
    async def main():
        async with MemCluster() as c:
            stores = list(c.stores.values())
            results = await asyncio.gather(*(stores[i % 5].add("counter", 1)
                                             for i in range(200)))
            versions = sorted(r.version for r in results)
            assert len(set(versions)) == 200
            assert sorted(r.values[0] for r in results) == list(range(1, 201))
            r = await stores[2].get("counter", consistency="strong")
            assert r.values == [200]
            p = partition_of("counter", c.config.partitions)
            leader = c.stores[c.leader(p)].host.replicas[p]
            assert leader.commit < 200, "writes should share slots"

    run(main())


def test_isolated_leader_refuses_and_majority_elects_a_new_one():
    async def main():
        async with MemCluster() as c:
            key = "k"
            p = partition_of(key, c.config.partitions)
            old = c.leader(p)
            await c.stores[old].put(key, "before")
            c.net.isolate(old)
            loop = asyncio.get_running_loop()
            cut_at = loop.time()
            # The old leader keeps its lease for at most a lease length, then refuses.
            await asyncio.sleep(LEASE_MS / 1000)
            with pytest.raises(NodeError) as e:
                await c.stores[old].put(key, "minority")
            assert e.value.code in ("unavailable", "timeout")
            with pytest.raises(NodeError):
                await c.stores[old].get(key, consistency="strong")
            await c.until(lambda: c.leader(p) not in (None, old))
            assert loop.time() - cut_at < 4 * LEASE_MS / 1000
            other = next(n for n in c.config.names if n != old)
            w = await c.stores[other].put(key, "majority")
            r = await c.stores[other].get(key, consistency="strong")
            assert r.values == ["majority"] and r.version == w.version
            # An eventual read on the cut-off node is stale but never invented.
            stale = await c.stores[old].get(key, consistency="eventual")
            assert stale.values in (["before"], ["minority"])
            c.net.heal()
            group = c.stores[other].groups[p]
            await c.until(lambda: len({c.stores[n].host.replicas[p].commit for n in group}) == 1
                          and c.stores[old].states[p].read(key).values == ["majority"])
            logs = {n: [(s, e[2]) for s, e in sorted(c.stores[n].host.replicas[p].log.items())]
                    for n in group}
            assert len({repr(v) for v in logs.values()}) == 1

    run(main())


def test_acknowledged_writes_survive_crashes_of_every_node():
    async def main():
        async with MemCluster() as c:
            acked = {}
            for i in range(30):
                k = f"d{i}"
                acked[k] = (await c.stores[c.config.names[i % 5]].put(k, i)).version
            for n in list(c.stores):
                await c.crash(n)
            for n in c.config.names:
                await c.start(n)
            await c.until(lambda: all(c.leader(p) for p in range(c.config.partitions)),
                          timeout=10)
            for k, version in acked.items():
                r = await c.stores["n3"].get(k, consistency="strong")
                assert r.values == [int(k[1:])] and r.version == version

    run(main())


def test_bad_requests_get_one_sentence_4xx_and_the_node_keeps_serving():
    from aiohttp.test_utils import TestClient, TestServer

    from splitbrain.db.api import Api

    async def main():
        async with MemCluster() as c:
            store = c.stores["n1"]
            client = TestClient(TestServer(Api(store, store.env).app()))
            await client.start_server()
            try:
                async def call(method, path, body=None, raw=None):
                    resp = await client.request(method, path, data=raw if raw is not None else
                                                (None if body is None else json.dumps(body)))
                    return resp.status, await resp.json()

                bad = [
                    ("PUT", "/kv/a", None, b"{not json"),
                    ("PUT", "/kv/a", {"value": 1, "condition": {"version": "x"}}, None),
                    ("PUT", "/kv/a", {"value": 1, "condition": {"absent": True, "version": 1}},
                     None),
                    ("PUT", "/kv/a", {"value": 1, "condition": {"absent": False}}, None),
                    ("GET", "/kv/a?consistency=linearizable", None, None),
                    ("POST", "/kv/a/add", {"delta": "5"}, None),
                    ("POST", "/kv/a/add-to-set", {}, None),
                ]
                for method, path, body, raw in bad:
                    status, answer = await call(method, path, body, raw)
                    assert status == 400 and answer["error"] == "bad-request", (path, answer)
                    assert answer["definite"] is True and answer["message"].endswith(".")
                assert (await call("PUT", "/kv/s", {"value": "text"}))[0] == 200
                status, answer = await call("POST", "/kv/s/add", {"delta": 1})
                assert status == 400 and answer["definite"] is True and "not a number" in \
                    answer["message"]
                status, answer = await call("PUT", "/kv/s",
                                            {"value": 2, "condition": {"absent": True}})
                assert status == 409 and answer["error"] == "condition-failed"
                assert answer["definite"]
                status, answer = await call("GET", "/kv/s?consistency=strong")
                assert status == 200 and answer["values"] == ["text"] and answer["version"] >= 1
                status, answer = await call("GET", "/admin/status")
                assert status == 200 and len(answer["partitions"]) == c.config.partitions
            finally:
                await client.close()

    run(main())


def test_a_replica_behind_a_truncated_log_catches_up_from_a_snapshot_and_keeps_it():
    async def main():
        async with MemCluster(snapshot_every=5) as c:
            key = "snap"
            p = partition_of(key, c.config.partitions)
            leader = c.leader(p)
            behind = next(n for n in c.stores[leader].groups[p] if n != leader)
            c.net.isolate(behind)
            for i in range(30):
                await c.stores[leader].add(key, 1)
            assert c.stores[leader].host.replicas[p].snap_index >= 25
            assert c.stores[behind].states[p].read(key).values == []
            c.net.heal()
            await c.until(lambda: c.stores[behind].states[p].read(key).values == [30])
            assert c.stores[behind].host.replicas[p].snap_index >= 25
            await asyncio.sleep(0.1)  # lazy writes reach storage within a tick
            await c.crash(behind)
            await c.start(behind)
            assert c.stores[behind].states[p].read(key).values == [30], \
                "the installed snapshot should survive a restart"

    run(main())


def test_a_duplicated_forwarded_write_is_applied_once():
    """Every message is delivered twice, so a non-leader's forwarded atomic add reaches the
    leader twice: it must be applied once, and each add answered with its own result."""
    async def main():
        async with MemCluster() as c:
            key = "dup"
            p = partition_of(key, c.config.partitions)
            others = [n for n in c.config.names if n != c.leader(p)]
            c.net.faults.duplicate = 1.0
            delivered = c.net.delivered
            first = await c.stores[others[0]].add(key, 1)
            assert first.values == [1]
            second = await c.stores[others[1]].add(key, 1)
            assert second.values == [2] and second.version == first.version + 1
            await asyncio.sleep(0.1)  # every late copy has arrived
            assert c.net.delivered - delivered > 4, "the network should have duplicated"
            r = await c.stores[others[2]].get(key, consistency="strong")
            assert (r.values, r.version) == ([2], second.version), \
                f"two adds of 1, each acknowledged once, read as {r.values}"

    run(main())


def test_the_state_machine_applies_an_op_id_once_within_its_window():
    s = KVState()
    assert s.apply({"id": "n1.1.1", "f": "add", "k": "c", "v": 1})["values"] == [1]
    again = {"ok": True, "version": 1, "values": None}
    assert s.apply({"id": "n1.1.1", "f": "add", "k": "c", "v": 1}) == again
    assert (s.items["c"], s.writes) == ([1, 1], 1)
    replica = KVState()  # a replica that catches up from a snapshot drops it too
    replica.restore(s.snapshot())
    assert replica.apply({"id": "n1.1.1", "f": "add", "k": "c", "v": 1}) == again
    assert replica.items["c"] == [1, 1]
    failed = s.apply({"id": "n2.1.1", "f": "put", "k": "c", "v": 0, "cond": {"absent": True}})
    assert failed["error"] == "condition-failed"
    assert s.apply({"id": "n2.1.1", "f": "put", "k": "c", "v": 0, "cond": None}) == failed
    for i in range(DEDUP_OPS):
        s.apply({"id": f"n3.1.{i}", "f": "add", "k": "d", "v": 1})
    assert len(s.recent) == DEDUP_OPS and "n1.1.1" not in s.recent
    for i in range(DEDUP_OPS):  # a growing set: each result holds the whole set
        s.apply({"id": f"n4.1.{i}", "f": "add_to_set", "k": "set", "v": i})
    items = len(msgpack.packb(s.snapshot()["items"]))
    assert len(msgpack.packb(s.snapshot())) < items + 20 * DEDUP_OPS, \
        "the window copies values into snapshots (ids and versions alone need < 20 bytes each)"


def test_a_second_copy_of_a_waiting_op_shares_its_result():
    async def main():
        async with MemCluster() as c:
            key = "twice"
            p = partition_of(key, c.config.partitions)
            host = c.stores[c.leader(p)].host
            op = {"id": "n9.1.1", "f": "add", "k": key, "v": 1}
            results = await asyncio.gather(host.submit(p, op, 0.4), host.submit(p, op, 0.4))
            assert results[0] == results[1] and results[0]["values"] == [1], results
            assert c.stores[c.leader(p)].states[p].items[key][0] == 1

    run(main())


def test_healing_a_partition_that_cut_off_the_leader_costs_no_leader_change():
    """The cut-off leader still believes it leads when the partition heals; its nacked
    heartbeat must not make it depose the healthy leader (which would fail the writes in
    flight there)."""
    async def main():
        async with MemCluster() as c:
            key = "heal"
            p = partition_of(key, c.config.partitions)
            old = c.leader(p)
            c.net.isolate(old)
            await c.until(lambda: c.leader(p) not in (None, old))
            new = c.leader(p)
            replica = c.stores[new].host.replicas[p]
            ballot = replica.ballot
            assert c.stores[old].host.replicas[p].role == "leader"
            c.net.heal()
            await c.until(lambda: c.stores[old].host.replicas[p].leader == new)
            await asyncio.sleep(2 * LEASE_MS / 1000)  # time for a deposition to show
            assert (c.leader(p), replica.ballot) == (new, ballot), \
                f"healing deposed {new} (ballot {ballot}): {c.leader(p)} leads with " \
                f"{replica.ballot}"
            assert (await c.stores[old].put(key, 1)).values == [1]

    run(main())
