"""Every network backend (proxy, netns, the hosts' firewall over SSH) passes the same contract,
observed by stand-in nodes (tests/standin_node.py) that heartbeat every directed link: a cut
silences exactly the cut direction, a new cut replaces the old one, heal restores every link,
``cuts`` says what is cut, and close is idempotent."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
import uuid
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
from lab_hosts import lab, ssh_options  # noqa: F401 (lab is a fixture)

from splitbrain.db.client import NodeClient
from splitbrain.harness import netns
from splitbrain.harness.cluster import local_cluster
from splitbrain.harness.firewall import FirewallNet
from splitbrain.harness.hostcluster import host_cluster
from splitbrain.harness.interfaces import Placement
from splitbrain.harness.splitbrain_nodes import SplitbrainNodes
from splitbrain.remote.install import install
from splitbrain.remote.ssh import SshHosts

STANDIN = Path(__file__).with_name("standin_node.py")


class StandinNodes(SplitbrainNodes):
    """The stand-in node instead of splitbrain's, uploaded into each node's directory."""

    def files(self, name: str) -> dict[str, bytes]:
        return {**super().files(name), STANDIN.name: STANDIN.read_bytes()}

    def command(self, name: str, python: str) -> list[str]:
        d = self.directories[name]
        return [python, f"{d}/{STANDIN.name}", "--config", f"{d}/cluster.json", "--name", name]

pytestmark = pytest.mark.integration


def local(net: str):
    @contextlib.asynccontextmanager
    async def make(tmp_path: Path, request) -> AsyncIterator[Any]:
        if net == "netns" and netns.unavailable_reason():
            pytest.skip(f"the netns network is unavailable: {netns.unavailable_reason()}")
        async with local_cluster("dynamo", 3, tmp_path / "c", net=net,
                                 command=[sys.executable, str(STANDIN)]) as cluster:
            yield cluster
    return make


@contextlib.asynccontextmanager
async def firewall(tmp_path: Path, request) -> AsyncIterator[Any]:
    built = request.getfixturevalue("lab")
    remote = f"/tmp/sb-lab-net-{uuid.uuid4().hex[:12]}"  # the lab's hosts share this machine's /
    request.addfinalizer(lambda: shutil.rmtree(remote, ignore_errors=True))
    hosts = SshHosts(list(built["hosts"].values()), ssh_options(built, remote_dir=remote),
                     install=install)
    placements = [Placement(f"n{i}", h, h, hosts.node_dir(h, f"n{i}"))
                  for i, h in enumerate(hosts.hosts, start=1)]
    async with host_cluster(StandinNodes("dynamo"), hosts, placements,
                            FirewallNet(hosts, placements), tmp_path / "c") as cluster:
        yield cluster


BACKENDS = {"proxy": local("proxy"), "netns": local("netns"), "firewall": firewall}


async def views(cluster) -> dict[str, dict[str, str]]:
    out = {}
    for name in cluster.names:
        async with NodeClient(cluster.client_url(name), timeout=1.0) as client:
            out[name] = (await client.status()).value["members"]
    return out


async def until(cluster, want, timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not want(seen := await views(cluster)):
        assert loop.time() < deadline, f"gossip views never settled: {seen}"
        await asyncio.sleep(0.2)


def all_up(v: dict[str, dict[str, str]]) -> bool:
    return all(set(m.values()) == {"up"} for m in v.values())


@pytest.mark.parametrize("backend", BACKENDS)
def test_cut_is_directed_replaced_and_healed(backend, tmp_path, request):
    if os.geteuid() != 0 and backend != "proxy":
        pytest.skip(f"the {backend} network needs root (CI runs these tests as root)")

    async def scenario():
        async with BACKENDS[backend](tmp_path, request) as cluster:
            net = cluster.net
            await until(cluster, all_up)
            await net.cut([("n1", "n2")])  # n2 stops hearing n1; n1 still hears n2
            assert net.cuts == frozenset({("n1", "n2")})
            await until(cluster, lambda v: v["n2"]["n1"] == "down" and v["n1"]["n2"] == "up"
                        and v["n3"]["n1"] == "up")
            await net.cut([("n3", "n1")])  # replaces the first cut
            assert net.cuts == frozenset({("n3", "n1")})
            await until(cluster, lambda v: v["n1"]["n3"] == "down" and v["n2"]["n1"] == "up")
            await net.heal()
            assert net.cuts == frozenset()
            await until(cluster, all_up)
            await net.close()
            await net.close()  # idempotent

    asyncio.run(scenario())
