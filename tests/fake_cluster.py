"""An in-memory stand-in for a cluster and its clients, for testing the run loop and the
workloads without processes: one linearizable key-value map shared by every "node", with
optional misbehaviour (answers that hang, indefinite errors) to exercise the tester's rules."""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Any

from splitbrain.db.client import FAIL, INFO, OK, Reply


class FakeStore:
    """Values per key as the node API returns them: a list (siblings in dynamo mode)."""

    def __init__(self, mode: str):
        self.mode = mode
        self.data: dict[str, list] = {}
        self.versions: dict[str, int] = {}
        self.requests = 0
        self.dead = False  # every read refused, as if every node were down


class FakeClient:
    """The data and admin calls of :class:`splitbrain.db.client.NodeClient`. ``hang`` (0..1)
    makes that fraction of data calls never answer; ``indefinite`` makes that fraction of
    writes answer ``info`` after taking effect."""

    def __init__(self, store: FakeStore, url: str, timeout: float = 1.0, *,
                 hang: float = 0.0, indefinite: float = 0.0, healthy: bool = True,
                 rng: random.Random | None = None):
        self.store, self.url, self.timeout = store, url, timeout
        self.hang, self.indefinite, self.healthy = hang, indefinite, healthy
        self.rng = rng or random.Random(0)
        self.closed = False

    async def _maybe_hang(self) -> None:
        self.store.requests += 1
        await asyncio.sleep(0)
        if self.rng.random() < self.hang:
            await asyncio.sleep(3600)

    def _meta(self, key: str) -> dict:
        if self.store.mode == "dynamo":
            return {"context": f"ctx{self.store.versions.get(key, 0)}", "siblings": True}
        if self.store.mode == "dynamodb":
            return {"version": self.store.versions.get(key, 0)}
        return {"ts": 1.0}

    def _written(self, key: str, values: list, value: Any) -> Reply:
        self.store.data[key] = values
        self.store.versions[key] = self.store.versions.get(key, 0) + 1
        if self.rng.random() < self.indefinite:
            return Reply(INFO, error="timeout")
        return Reply(OK, value=value, meta=self._meta(key))

    async def get(self, key: str, consistency: str | None = None, r: int | None = None) -> Reply:
        await self._maybe_hang()
        if self.store.dead:
            return Reply(FAIL, error="connection-refused")
        return Reply(OK, value=list(self.store.data.get(key, [])), meta=self._meta(key))

    async def put(self, key: str, value: Any, context: str | None = None, w: int | None = None,
                  condition: dict | None = None) -> Reply:
        await self._maybe_hang()
        current = self.store.data.get(key, [])
        if condition is not None and current[:1] != [condition.get("equals")]:
            return Reply(FAIL, error="condition-failed")
        if self.store.mode == "dynamo" and context is None:
            return self._written(key, current + [value], value)
        return self._written(key, [value], value)

    async def add(self, key: str, delta: int) -> Reply:
        await self._maybe_hang()
        return self._written(key, [sum(self.store.data.get(key, [0])) + delta], delta)

    async def add_to_set(self, key: str, element: Any) -> Reply:
        await self._maybe_hang()
        current = self.store.data.get(key, [[]])[0]
        return self._written(key, [sorted(set(current) | {element})], element)

    async def health(self) -> Reply:
        return Reply(OK, value={"ok": True}) if self.healthy else Reply(FAIL, error="connection-refused")

    async def status(self, *, timeout: float | None = None) -> Reply:
        # One store, no replicated log: no partitions whose replicas could lag.
        return Reply(OK, value={"name": self.url, "mode": self.store.mode})

    async def close(self) -> None:
        self.closed = True


class FakeCluster:
    """``names`` and ``client_url`` as a real cluster has them; records that it was stopped."""

    def __init__(self, nodes: int = 3):
        self.names = [f"n{i + 1}" for i in range(nodes)]
        self.stopped = False
        self.offsets: dict[str, float] = {}

    def client_url(self, name: str) -> str:
        return f"fake://{name}"

    @contextlib.asynccontextmanager
    async def running(self):
        try:
            yield self
        finally:
            self.stopped = True


class FakeNemesis:
    """Alternates start-partition/stop-partition every ``interval`` seconds; heals at the end
    (the interface of splitbrain.nemesis.Schedule)."""

    def __init__(self, interval: float = 0.2):
        self.interval = interval
        self.active: list[dict] = []

    async def run(self, cluster, rng, record, duration) -> None:
        loop = asyncio.get_running_loop()
        until = loop.time() + duration
        while loop.time() + self.interval < until:
            await asyncio.sleep(self.interval)
            target = rng.choice(cluster.names)
            record("invoke", "start-partition", {"isolated": [target]})
            record("info", "start-partition", {"isolated": [target]})
            self.active = [{"f": "start-partition", "value": {"isolated": [target]}}]
            await asyncio.sleep(self.interval)
            await self.heal(cluster, record)

    async def heal(self, cluster, record) -> None:
        if self.active:
            record("invoke", "stop-partition", None)
            record("info", "stop-partition", {"healed": True})
            self.active = []
