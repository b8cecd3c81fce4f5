"""A cluster of splitbrain nodes on remote hosts over SSH (the composition of
:mod:`splitbrain.remote`): node ``nI`` on the I-th host, its directory
``REMOTE_DIR/nodes/nI``, ports 8000 (client) and 9000 (peer) on the host's address, partitions
by the hosts' firewalls (:class:`splitbrain.harness.firewall.FirewallNet`), splitbrain installed
on each host first (:mod:`splitbrain.remote.install`)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from splitbrain.errors import BadInput, TesterFailure
from splitbrain.harness.firewall import FirewallNet
from splitbrain.harness.hostcluster import HostCluster, host_cluster
from splitbrain.harness.interfaces import Placement
from splitbrain.harness.splitbrain_nodes import SplitbrainNodes
from splitbrain.remote.install import install
from splitbrain.remote.ssh import SshHosts, SshOptions


def parse_hosts(spec: str) -> list[str]:
    """``"h1,h2"`` -> ``["h1", "h2"]``; BadInput for an empty list or a host named twice."""
    hosts = [h.strip() for h in spec.split(",") if h.strip()]
    if not hosts:
        raise BadInput("--hosts needs a comma-separated list of hosts, e.g. --hosts "
                       "10.0.0.1,10.0.0.2,10.0.0.3")
    if len(set(hosts)) != len(hosts):
        raise BadInput(f"--hosts names a host twice ({spec}); give each host once, one node "
                       f"runs on each")
    return hosts


def check_layout(hosts: list[str], nodes: int, net: str) -> None:
    """BadInput unless ``nodes`` nodes and ``--net net`` fit a cluster on ``hosts``."""
    if len(hosts) != nodes:
        raise BadInput(f"--hosts names {len(hosts)} hosts for {nodes} nodes; one node runs on "
                       f"each host, so pass --nodes {len(hosts)}")
    if net == "netns":
        raise BadInput("--net netns builds namespaces on this machine; with --hosts the "
                       "network is the hosts' own firewall, so drop --net")


def ssh_cluster(mode: str, hosts: list[str], options: SshOptions, root: Path, *,
                start_timeout: float = 30.0, **params: Any) -> HostCluster:
    """Splitbrain nodes in ``mode`` on ``hosts`` over SSH (one node per host); ``params`` are
    cluster config fields. Use it as ``async with ssh_cluster(...) as cluster:``."""
    options.validate()
    ssh = SshHosts(hosts, options, install=install)
    placements = [Placement(name=f"n{i}", host=h, address=ssh.address(h),
                            directory=ssh.node_dir(h, f"n{i}"))
                  for i, h in enumerate(hosts, start=1)]
    return host_cluster(SplitbrainNodes(mode, **params), ssh, placements,
                        FirewallNet(ssh, placements), root, start_timeout=start_timeout)


# -- detached clusters on remote hosts (splitbrain cluster up --hosts | status | down) ----------

REMOTE_FILE = "remote.json"


def remote_state(root: Path) -> dict[str, Any] | None:
    """What ``cluster up --hosts`` recorded in ``root`` (mode, hosts, SSH options), or None."""
    try:
        return json.loads((Path(root) / REMOTE_FILE).read_text())
    except (OSError, ValueError):
        return None


async def up_detached(mode: str, hosts: list[str], options: SshOptions, root: Path,
                      **params: Any) -> HostCluster:
    """Start a cluster on ``hosts`` and leave it running (its record in ``root``); ``params``
    are cluster config fields (``bugs``, ...)."""
    root = Path(root).resolve()
    if remote_state(root) is not None:
        raise TesterFailure(f"a cluster is already running from {root}; stop it first "
                            f"(splitbrain cluster down --root {root})")
    cluster = ssh_cluster(mode, hosts, options, root, **params)
    await cluster.start()
    root.mkdir(parents=True, exist_ok=True)
    (root / REMOTE_FILE).write_text(json.dumps({"mode": mode, "hosts": hosts,
                                                "ssh": asdict(options),
                                                "config": cluster.describe()}, indent=2))
    await cluster.hosts.close()  # the nodes keep running
    return cluster


def _reconnect(state: dict[str, Any], root: Path) -> HostCluster:
    return ssh_cluster(state["mode"], state["hosts"], SshOptions(**state["ssh"]), root)


async def status_detached(root: Path) -> list[dict[str, Any]] | None:
    """Each node of the remote cluster recorded in ``root``: ``name``, ``host``, ``running``,
    ``healthy``, ``url``; None when none is recorded there."""
    root = Path(root).resolve()
    state = remote_state(root)
    if state is None:
        return None
    cluster = _reconnect(state, root)
    hosts = cluster.hosts
    assert isinstance(hosts, SshHosts)
    await hosts.connect()
    try:
        cluster.database.setup(list(cluster.placements.values()))
        rows = []
        for name, p in cluster.placements.items():
            running = await hosts.is_running(p.host, name)
            rows.append({"name": name, "host": p.host, "running": running,
                         "healthy": running and await cluster.database.healthy(name),
                         "url": cluster.client_url(name)})
        return rows
    finally:
        await hosts.close()


async def down_detached(root: Path) -> list[str] | None:
    """Stop the remote cluster recorded in ``root`` (its logs downloaded to ``root/logs``);
    returns the nodes stopped, or None when none is recorded there."""
    root = Path(root).resolve()
    state = remote_state(root)
    if state is None:
        return None
    cluster = _reconnect(state, root)
    assert isinstance(cluster.hosts, SshHosts)
    await cluster.hosts.connect()
    cluster.database.setup(list(cluster.placements.values()))
    await cluster.stop()
    (root / REMOTE_FILE).unlink()
    return list(cluster.names)
