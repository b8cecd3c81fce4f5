"""An etcd cluster composed from the harness's seams (as :mod:`.sshcluster` composes splitbrain's
node on SSH hosts): :class:`~splitbrain.etcd.nodes.EtcdNodes` on hosts of their own (namespaces
of this machine, or SSH hosts), partitioned by those hosts' firewalls
(:class:`~splitbrain.harness.firewall.FirewallNet`). Member ``nI`` runs on host ``nI`` (local) or
the I-th SSH host, client port 2379, peer port 2380."""

from __future__ import annotations

from pathlib import Path

from splitbrain.errors import BadInput
from splitbrain.etcd.nodes import CLIENT_PORT, PEER_PORT, EtcdNodes
from splitbrain.harness.firewall import FirewallNet
from splitbrain.harness.hostcluster import HostCluster, host_cluster
from splitbrain.harness.interfaces import Hosts, Placement
from splitbrain.harness.netnshosts import NetnsHosts
from splitbrain.remote.ssh import SshHosts, SshOptions

#: The networks an etcd cluster can run on, and why the proxy is not one of them.
NO_PROXY = ("etcd members dial each other's one peer URL, so a per-link proxy cannot cut "
            "their links; use --net netns (root) or --hosts")


def _compose(database: EtcdNodes, hosts: Hosts, host_names: list[str], root: Path,
             start_timeout: float) -> HostCluster:
    placements = [Placement(name=f"n{i}", host=h, address=hosts.address(h),
                            directory=hosts.node_dir(h, f"n{i}"), client_port=CLIENT_PORT,
                            peer_port=PEER_PORT)
                  for i, h in enumerate(host_names, start=1)]
    # etcd streams a member's messages over connections the *other* member dialed, so a cut
    # drops everything from the source's address, not just segments to the peer port.
    return host_cluster(database, hosts, placements,
                        FirewallNet(hosts, placements, whole_host=True), root,
                        start_timeout=start_timeout)


def local_etcd_cluster(nodes: int, root: Path, binary: str, *, net: str = "netns",
                       start_timeout: float = 30.0) -> HostCluster:
    """``nodes`` etcd members in namespaces of this machine (``net`` must be netns or auto)."""
    if net == "proxy":
        raise BadInput(f"--db etcd cannot run on --net proxy: {NO_PROXY}")
    root = Path(root).resolve()
    names = [f"n{i}" for i in range(1, nodes + 1)]
    return _compose(EtcdNodes(binary), NetnsHosts(root / "hosts", names), names, root,
                    start_timeout)


def ssh_etcd_cluster(hosts: list[str], options: SshOptions, root: Path, binary: str, *,
                     start_timeout: float = 30.0) -> HostCluster:
    """One etcd member on each SSH host (etcd installed there at ``binary``)."""
    options.validate()
    return _compose(EtcdNodes(binary), SshHosts(hosts, options), hosts, Path(root).resolve(),
                    start_timeout)
