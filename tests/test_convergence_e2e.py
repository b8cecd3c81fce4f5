"""A dynamodb run whose follower replica diverges is judged not converged, end to end: five
in-memory dynamodb nodes (tests/test_dynamodb.py's MemCluster) behind their real HTTP API on
127.0.0.1, driven by the harness's Runner with the register workload; a test nemesis overwrites
one follower's copy of a key when it heals, as a replica that applied a different value at the
same log position would hold it. The catch-up wait, the eventual final reads at every node and
the convergence checker must find it; without the corruption the same run converges."""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Any

import pytest
from aiohttp import web

from splitbrain.checkers import policy
from splitbrain.db.api import Api
from splitbrain.db.dynamodb import partition_of
from splitbrain.harness.runner import Runner, check
from splitbrain.workloads import make
from test_dynamodb import MemCluster

pytestmark = pytest.mark.integration

KEY = "r0"  # the register workload's first key: always written


class HttpMemCluster:
    """``names`` and ``client_url`` as the Runner needs them, each node's API served on an
    ephemeral 127.0.0.1 port chosen by the kernel."""

    def __init__(self, mem: MemCluster):
        self.mem = mem
        self.names = list(mem.config.names)
        self.urls: dict[str, str] = {}

    def client_url(self, name: str) -> str:
        return self.urls[name]

    @contextlib.asynccontextmanager
    async def running(self):
        runners = []
        try:
            async with self.mem:
                for name, store in self.mem.stores.items():
                    runner = web.AppRunner(Api(store, store.env).app())
                    await runner.setup()
                    runners.append(runner)
                    await web.TCPSite(runner, "127.0.0.1", 0).start()
                    host, port = runner.addresses[0][:2]
                    self.urls[name] = f"http://{host}:{port}"
                yield self
        finally:
            for runner in runners:
                await runner.cleanup()


class CorruptFollowerOnHeal:
    """Injects nothing while the workload runs; on heal, overwrites a follower's item of
    :data:`KEY` with ``value`` at the same version (when ``value`` is not None)."""

    active = None

    def __init__(self, mem: MemCluster, value: Any):
        self.mem, self.value = mem, value
        self.corrupted: tuple[str, int] | None = None

    async def run(self, cluster: Any, rng: random.Random, record: Any, duration: float) -> None:
        await asyncio.sleep(duration)

    async def heal(self, cluster: Any, record: Any) -> None:
        if self.value is None:
            return
        p = partition_of(KEY, self.mem.config.partitions)
        members = next(iter(self.mem.stores.values())).groups[p]
        # Writes still in flight when the workload stopped may yet apply: corrupt once every
        # replica has applied the same entries.
        await self.mem.until(lambda: len({self.mem.stores[m].host.replicas[p].commit
                                          for m in members}) == 1)
        leader = self.mem.leader(p)
        follower = next(n for n in members if n != leader)
        state = self.mem.stores[follower].states[p]
        state.items[KEY] = [self.value, state.items[KEY][1]]
        self.corrupted = (follower, p)


def judge(value: Any) -> tuple[Any, CorruptFollowerOnHeal]:
    async def main():
        mem = MemCluster(nodes=5, seed=7)
        cluster = HttpMemCluster(mem)
        nemesis = CorruptFollowerOnHeal(mem, value)
        workload = make("register", "dynamodb")
        runner = Runner(workload, cluster.running(), None, concurrency=4, rate=60,
                        time_limit=1.5, recovery=0.3, op_timeout=1.0, seed=3, nemesis=nemesis,
                        catch_up_timeout=5.0)
        history = await runner.run()
        assert runner.catch_up is not None and runner.catch_up["lagging"] == {}
        return check(history, workload, params=mem.config.to_dict()), nemesis
    return asyncio.run(asyncio.wait_for(main(), 60))


def test_a_follower_that_diverged_is_not_converged():
    verdict, nemesis = judge(value=987654)
    assert nemesis.corrupted is not None
    follower, p = nemesis.corrupted
    assert verdict.valid is False
    assert "replicas converge after healing" in verdict.reason
    [a] = [a for a in verdict.anomalies if a["type"] == "not-converged"]
    assert a["checker"] == "convergence" and a["severity"] == "violation"
    assert a["key"] == KEY and a["partition"] == p
    assert len(set(a["replicas"].values())) == 1, "same applied index: a divergence"
    assert follower in a["replicas"] and [987654] in a["nodes"].values()
    assert "diverged" in a["explanation"]
    states = {x["text"]: x["state"] for x in verdict.details["promises"]}
    assert states["replicas converge after healing"] == "violated"


def test_the_same_run_without_the_corruption_converges():
    verdict, _ = judge(value=None)
    states = {x["text"]: x["state"] for x in verdict.details["promises"]}
    assert states["replicas converge after healing"] == policy.NO_VIOLATION
    assert verdict.stats["checkers"]["convergence"]["keys_judged"] >= 1
    assert not [a for a in verdict.anomalies if a["type"] == "not-converged"]
