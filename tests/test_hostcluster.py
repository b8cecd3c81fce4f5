"""HostCluster on local hosts with real splitbrain nodes: every run starts from empty data dirs
(a second cluster on the same hosts does not see the first one's writes), restarts keep the
data, clocks are skewed through the database, and the logs come back into the run
directory."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Iterable

import pytest

from splitbrain.db.client import NodeClient
from splitbrain.db.config import free_ports
from splitbrain.harness.hostcluster import host_cluster
from splitbrain.harness.interfaces import ClockControl, Link, Net, Placement
from splitbrain.harness.localhosts import LocalHosts
from splitbrain.harness.splitbrain_nodes import SplitbrainNodes

pytestmark = pytest.mark.integration


class Unpartitionable(Net):
    """No partitions at all: local hosts share 127.0.0.1, where drop rules would hit the
    machine."""

    kind = "none"

    async def cut(self, links: Iterable[Link]) -> None:
        raise AssertionError("not used")

    async def heal(self) -> None:
        pass

    async def delay(self, links: Iterable[Link], seconds: float) -> None:
        raise AssertionError("not used")

    async def close(self) -> None:
        pass


def cluster(tmp_path: Path, run: str):
    hosts = LocalHosts(tmp_path / "hosts", ["h1", "h2", "h3"])
    ports = free_ports(6)
    placements = [Placement(f"n{i}", h, "127.0.0.1", hosts.node_dir(h, f"n{i}"),
                            client_port=ports[i - 1], peer_port=ports[i + 2])
                  for i, h in enumerate(hosts.hosts, start=1)]
    return host_cluster(SplitbrainNodes("lww"), hosts, placements, Unpartitionable(),
                        tmp_path / run)


async def read(c, node: str) -> list:
    async with NodeClient(c.client_url(node), timeout=2.0) as client:
        reply = await client.get("k")
    assert reply.type == "ok", reply
    return reply.value or []


def test_each_run_starts_empty_and_restarts_keep_data(tmp_path):
    async def scenario():
        first = cluster(tmp_path, "run1")
        assert isinstance(first, ClockControl)
        async with first:
            async with NodeClient(first.client_url("n1"), timeout=2.0) as client:
                assert (await client.put("k", 7)).type == "ok"
            await first.kill("n2")
            assert not await first.is_running("n2")
            await first.restart("n2")
            assert await read(first, "n2") == [7]
            await first.set_clock_offset("n3", -4.5)  # through the node's admin API
            async with NodeClient(first.client_url("n3"), timeout=2.0) as client:
                assert (await client.status()).value["clock_offset"] == -4.5
        assert sorted(p.name for p in (tmp_path / "run1" / "logs").iterdir()) == [
            "n1.log", "n2.log", "n3.log"]
        second = cluster(tmp_path, "run2")
        async with second:
            assert await read(second, "n1") == []

    asyncio.run(scenario())
