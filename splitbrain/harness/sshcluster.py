"""A cluster of splitbrain nodes on remote hosts over SSH (the composition of
:mod:`splitbrain.remote`): node ``nI`` on the I-th host, its directory
``REMOTE_DIR/nodes/nI``, ports 8000 (client) and 9000 (peer) on the host's address, partitions
by the hosts' firewalls (:class:`splitbrain.harness.firewall.FirewallNet`), splitbrain installed
on each host first (:mod:`splitbrain.remote.install`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from splitbrain.errors import BadInput
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
