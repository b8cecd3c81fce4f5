"""The netns network on real nodes (root only; CI runs as root): a partition made with nftables
or iptables drop rules inside the namespaces is observed by the nodes' gossip and healed, packet
loss rules are accepted by the kernel, and nothing is left on the machine afterwards."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from system_packages import need

from splitbrain.db.client import NodeClient
from splitbrain import errors
from splitbrain.errors import BadInput
from splitbrain.harness import netns, registry
from splitbrain.harness.cluster import local_cluster
from splitbrain.harness.netns import render_rules
from splitbrain.harness.process import start_time

pytestmark = pytest.mark.integration

COMMANDS = {"nft": "nft", "iptables": "iptables-restore"}  # tool -> what proves it installed


def ensure_tool(tool: str) -> None:
    if os.geteuid() != 0:
        why = "the netns network needs root"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{why}, and CI must run these tests as root")
        pytest.skip(f"{why} (CI runs these tests as root)")
    need(COMMANDS[tool])


def host_namespaces() -> set[str]:
    """The network namespaces ``ip netns list`` shows on this machine."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


async def members(cluster) -> dict[str, dict[str, str]]:
    return {n: (await cluster.admin_status(n))["members"] for n in cluster.names}


async def until(cluster, want, timeout: float = 10.0) -> dict[str, dict[str, str]]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        views = await members(cluster)
        if want(views):
            return views
        assert loop.time() < deadline, f"gossip views never settled: {views}"
        await asyncio.sleep(0.2)


@pytest.mark.parametrize("tool", ["nft", "iptables"])
def test_partition_by_drop_rules_is_seen_by_gossip_and_healed(tmp_path, tool):
    ensure_tool(tool)

    async def scenario():
        cluster = local_cluster("dynamo", 3, tmp_path / "c", net="netns")
        cluster.net.tool = tool
        async with cluster:
            net = cluster.net
            info = net.describe()
            assert info["kind"] == "netns" and info["firewall"] == tool
            namespaces, veth = list(net.namespaces), net.ifaces[0]
            for name in cluster.names:
                addr = cluster.config.node(name).host
                assert addr.startswith("10.213.")
                route = subprocess.run(["ip", "route", "get", addr], capture_output=True,
                                       text=True).stdout
                assert f"dev {veth}" in route
            await until(cluster, lambda v: all(set(m.values()) == {"up"} for m in v.values()))

            others = [n for n in cluster.names if n != "n1"]
            await net.cut([(a, b) for a in cluster.names for b in cluster.names
                           if a != b and "n1" in (a, b)])
            await until(cluster, lambda v: set(v["n1"].values()) == {"down"}
                        and all(v[o]["n1"] == "down" for o in others)
                        and all(v[o][p] == "up" for o in others for p in others if p != o))

            await net.heal()
            await until(cluster, lambda v: all(set(m.values()) == {"up"} for m in v.values()))

            await net.loss([("n2", "n3")], 30)
            listing = ["nft", "list", "ruleset"] if tool == "nft" else ["iptables", "-S"]
            rules = subprocess.run(["ip", "netns", "exec", net.ns("n3"), *listing],
                                   capture_output=True, text=True, check=True).stdout
            assert ("numgen random mod 100 < 30" if tool == "nft" else "statistic") in rules
            await net.heal()
            with pytest.raises(BadInput, match="cannot delay"):
                await net.delay([("n1", "n2")], 0.1)
            subnet = net.subnet
            # A connection the tester leaves open must not outlive the network: its FIN or
            # retransmissions would follow the default route off the machine.
            _, lingering = await asyncio.open_connection(cluster.config.node("n1").host,
                                                         cluster.config.node("n1").client_port)
        sockets = subprocess.run(["ss", "-Htn", "dst", subnet], capture_output=True,
                                 text=True).stdout
        assert sockets.strip() == ""
        lingering.close()
        assert not host_namespaces() & set(namespaces)
        assert subprocess.run(["ip", "link", "show", veth], capture_output=True).returncode != 0

    asyncio.run(scenario())


def test_rules_render_for_both_firewalls():
    drops = {("10.213.0.1", 9000): 100, ("10.213.0.2", 9000): 25}
    nft = render_rules("nft", drops)
    assert "ip saddr 10.213.0.1 tcp dport 9000 drop" in nft
    assert "ip saddr 10.213.0.2 tcp dport 9000 numgen random mod 100 < 25 drop" in nft
    ipt = render_rules("iptables", drops)
    assert "-A INPUT -s 10.213.0.1/32 -p tcp --dport 9000 -j DROP" in ipt
    assert "--probability 0.25 -j DROP" in ipt and ipt.rstrip().endswith("COMMIT")


TESTER = """
import asyncio, sys
from pathlib import Path
from splitbrain.harness.cluster import local_cluster
async def main():
    async with local_cluster("dynamo", 2, Path(sys.argv[1]), net="netns") as c:
        print(" ".join(c.net.namespaces + c.net.ifaces), flush=True)
        await asyncio.sleep(60)
asyncio.run(main())
"""


def test_namespaces_of_a_sigkilled_tester_are_reaped_at_the_next_start(tmp_path):
    ensure_tool("nft")
    tester = subprocess.Popen([sys.executable, "-c", TESTER, str(tmp_path / "old")],
                              stdout=subprocess.PIPE, text=True)
    leftovers = tester.stdout.readline().split()
    tester.kill()
    tester.wait(timeout=5)
    assert leftovers, "the tester subprocess did not start its cluster"
    namespaces = [x for x in leftovers if "-" in x]
    assert set(namespaces) <= host_namespaces()  # the kernel keeps namespaces of a dead tester

    async def next_start():
        async with local_cluster("dynamo", 1, tmp_path / "new", net="netns") as cluster:
            # The new cluster may reuse the freed subnet and names; the rest must be gone.
            only_old = set(namespaces) - set(cluster.net.namespaces)
            assert only_old and not only_old & host_namespaces()
            assert registry.read_state(tmp_path / "old") is None

    asyncio.run(next_start())


USER_TESTER = """
import asyncio, json, os, sys
from pathlib import Path
from splitbrain.harness.cluster import local_cluster
async def main():
    async with local_cluster("dynamo", 3, Path(sys.argv[1]) / "c", net="netns") as c:
        cut = [(a, b) for a in c.names for b in c.names if a != b and "n1" in (a, b)]
        await c.net.cut(cut)
        for _ in range(60):
            seen = (await c.admin_status("n1"))["members"]
            if set(seen.values()) == {"down"}:
                break
            await asyncio.sleep(0.2)
        await c.net.heal()
        print(json.dumps({"uid": os.getuid(), "net": c.net.describe(), "seen": seen,
                          "namespaces": c.net.namespaces}))
asyncio.run(main())
"""


def unprivileged_python(workdir: str) -> list[str] | None:
    """A command that runs this Python with splitbrain importable as user nobody inside its own
    user, network and mount namespace (the venv's interpreter may live where nobody can read)."""
    site = next(p for p in sys.path if p.endswith("site-packages"))
    prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "env",
              f"PYTHONPATH={site}:{Path(__file__).parents[1]}", "unshare", "--user",
              "--map-root-user", "--net", "--mount"]
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    for python in (sys.executable, f"/usr/bin/python{version}"):
        probe = subprocess.run([*prefix, python, "-c", "import splitbrain.harness.cluster"],
                               capture_output=True, cwd=workdir)
        if probe.returncode == 0:
            return [*prefix, python]
    return None


def test_a_non_root_tester_uses_the_same_code_in_its_own_namespaces(tmp_path):
    """As user nobody under unshare --user --map-root-user --net --mount: the partition is seen
    by the nodes, and nothing appears among the machine's namespaces."""
    ensure_tool("nft")
    workdir = tempfile.mkdtemp(prefix="splitbrain-user-")
    try:
        os.chmod(workdir, 0o777)
        command = unprivileged_python(workdir)
        if command is None:
            pytest.skip("no Python interpreter here is usable by an unprivileged user")
        before = host_namespaces()
        run = subprocess.run([*command, "-c", USER_TESTER, workdir], capture_output=True,
                             text=True, cwd=workdir, timeout=90,
                             env={**os.environ,  # a registry nobody can write, in its dir
                                  "SPLITBRAIN_REGISTRY": os.path.join(workdir, "registry")})
        assert run.returncode == 0, run.stderr[-2000:]
        out = json.loads(run.stdout.strip().splitlines()[-1])
        assert out["uid"] == 0 and out["net"]["kind"] == "netns"
        assert out["seen"] == {"n2": "down", "n3": "down"}
        # other testers on this machine may add namespaces meanwhile: only the child's count
        assert out["namespaces"] and not (host_namespaces() - before) & set(out["namespaces"])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def test_delays_route_peers_through_the_hub_proxy_where_cuts_stay_drop_rules(tmp_path):
    ensure_tool("nft")

    async def put_seconds(url: str, key: str, tries: int = 1) -> float:
        """The fastest of ``tries`` puts (a loaded machine slows some; none is faster than the
        network lets it be)."""
        async with NodeClient(url, timeout=5.0) as client:
            took = []
            for _ in range(tries):
                t = time.monotonic()
                reply = await client.put(key, 1)
                assert reply.type == "ok", reply
                took.append(time.monotonic() - t)
            return min(took)

    async def scenario():
        cluster = local_cluster("dynamo", 3, tmp_path / "c", net="netns", delays=True)
        async with cluster:
            net = cluster.net
            assert net.describe()["delays"] == "proxy"
            hub = net.address(253)
            assert all(route.startswith(f"{hub}:")
                       for routes in cluster.config.peer_routes.values()
                       for route in routes.values())
            await until(cluster, lambda v: all(set(m.values()) == {"up"} for m in v.values()))
            url = cluster.client_url("n1")
            assert await put_seconds(url, "fast", tries=3) < 0.4
            links = [(a, b) for a in cluster.names for b in cluster.names if a != b]
            await net.delay(links, 0.25)
            assert await put_seconds(url, "slow") >= 0.45  # to a replica and back: 2 links
            await net.heal()
            assert await put_seconds(url, "fast-again", tries=3) < 0.4

            await net.cut([link for link in links if "n1" in link])
            await until(cluster, lambda v: set(v["n1"].values()) == {"down"}
                        and v["n2"]["n1"] == v["n3"]["n1"] == "down")
            rules = subprocess.run(["ip", "netns", "exec", net.ns("hub"), "nft", "list",
                                    "ruleset"], capture_output=True, text=True).stdout
            assert rules.count(" drop") == 4
            await net.heal()
            await until(cluster, lambda v: all(set(m.values()) == {"up"} for m in v.values()))
            proxy_pid = net.proxy.proc.pid
        assert start_time(proxy_pid) is None

    asyncio.run(scenario())


def test_refuses_to_start_when_node_addresses_would_route_off_the_machine(tmp_path, monkeypatch):
    ensure_tool("nft")
    real_run = netns._run

    def run(*argv, **kw):
        if argv[:3] == ("ip", "route", "get"):
            return f"{argv[3]} via 192.0.2.1 dev eth0 src 192.0.2.2\n"
        return real_run(*argv, **kw)

    monkeypatch.setattr(netns, "_run", run)
    before = host_namespaces()

    async def scenario() -> int:
        cluster = local_cluster("dynamo", 2, tmp_path / "c", net="netns")
        with pytest.raises(errors.TesterFailure, match="refusing to start: the route to node "
                                                       "address 10.213.* does not go through"):
            await cluster.start()
        assert cluster.procs == {}  # no node was started
        return cluster.net.k

    k = asyncio.run(scenario())
    # other testers on this machine may add namespaces meanwhile: only this cluster's count
    assert {ns for ns in host_namespaces() - before if ns.startswith(f"sb{k}-")} == set()
