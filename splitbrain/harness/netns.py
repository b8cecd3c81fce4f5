"""The ``netns`` network: every node in its own Linux network namespace, partitions by firewall
drop rules inside the namespaces, as Jepsen does on real hosts.

Layout for a cluster given the free subnet ``10.213.K.0/24`` (K chosen so that no interface,
route or other registered cluster of this machine uses it)::

    namespace sbK-hub    bridge br0; one veth port per node and one for the tester
    namespace sbK-<name> eth0 = 10.213.K.<i>/24, the node listens on 8000 (client), 9000 (peer)
    tester's namespace   veth sbKt = 10.213.K.254/24, plugged into br0

Nothing is added to the host's other networks: the bridge lives in a namespace of ours, and the
tester's veth only carries the /24. Before a node starts, ``ip route get`` must show every node
address going through ``sbKt``; otherwise the cluster refuses to start (packets for these
addresses must never leave the machine).

A cut link ``a->b`` is a drop rule in ``b``'s namespace for TCP segments from ``a``'s address to
``b``'s peer port: ``a``'s connections to ``b`` go silent (dropped packets, not resets), while
``b``'s own connections to ``a`` and the tester's client traffic are untouched. Packet loss is
the same rule with a random match (nft ``numgen random mod 100 < N``, iptables ``statistic``).
Rules are nftables when ``nft`` is installed, else iptables, and a namespace's whole rule set
is replaced atomically (``nft -f -`` / ``iptables-restore``).

Delays would need netem, which this machine's kernel lacks, so a network opened with
``delays=True`` routes peer traffic through the proxy helper (:mod:`splitbrain.harness.proxy`)
running in the hub namespace on 10.213.K.253: node ``a`` reaches ``b`` through the hub port
of link ``a->b``. Delays are the proxy's; cuts and loss stay drop rules, in the hub's namespace,
for ``a``'s segments to that port. Without ``delays=True``, peers talk directly and ``delay`` is
refused with a sentence saying how to get it.

A non-root user runs the tester in a user, network and mount namespace of its own, where the
same code works unchanged: ``unshare --user --map-root-user --net --mount splitbrain test --net
netns``. There, ``/run/netns`` belongs to the real root, so a private tmpfs is mounted over it
(visible only inside that mount namespace), and everything vanishes with the tester.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Iterable

from splitbrain.db.config import ClusterConfig
from splitbrain.errors import BadInput, TesterFailure
from splitbrain.harness import registry
from splitbrain.harness.net import Link, LocalNet
from splitbrain.harness.proxy import ProxyNet

SUBNET = "10.213"
TESTER_HOST, HUB_HOST = 254, 253
CLIENT_PORT, PEER_PORT = 8000, 9000
TABLE = "splitbrain"


def firewall() -> str | None:
    """``nft`` or ``iptables``, whichever is installed (nft preferred), or None."""
    for tool in ("nft", "iptables-restore"):
        if shutil.which(tool):
            return "nft" if tool == "nft" else "iptables"
    return None


def unavailable_reason() -> str | None:
    """Why this process cannot build a netns network, or None if it can (probed by building
    a namespace with a bridge and reading its firewall rules)."""
    if not sys.platform.startswith("linux"):
        return "network namespaces exist only on Linux"
    if os.geteuid() != 0:
        return ("it needs root; as another user, run the tester in namespaces of its own: "
                "unshare --user --map-root-user --net --mount splitbrain ...")
    if not shutil.which("ip"):
        return "the ip command is missing (apt-get install iproute2)"
    tool = firewall()
    if tool is None:
        return "neither nft nor iptables is installed (apt-get install nftables)"
    probe = f"sbprobe{os.getpid()}"
    try:
        _own_netns_dir()
        _run("ip", "netns", "add", probe)
        _run("ip", "-n", probe, "link", "add", "br0", "type", "bridge")
        _run("ip", "netns", "exec", probe, *(["nft", "list", "ruleset"] if tool == "nft"
                                            else ["iptables-save"]))
    except TesterFailure as e:
        return f"this machine refuses to build one ({e})"
    finally:
        subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _run(*argv: str, input: str | None = None) -> str:
    proc = subprocess.run(argv, input=input, capture_output=True, text=True)
    if proc.returncode != 0:
        raise TesterFailure(f"'{' '.join(argv)}' failed while building the netns network: "
                            f"{proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout


def _own_netns_dir() -> None:
    """Make ``/run/netns`` writable: in a user namespace it belongs to the real root, so mount
    a tmpfs over it (or over ``/run`` when it does not exist yet); the mount is private to this
    tester's mount namespace."""
    netns_dir = Path("/run/netns")
    if netns_dir.is_dir() and os.access(netns_dir, os.W_OK):
        return
    if not netns_dir.is_dir() and os.access("/run", os.W_OK):
        return  # ip netns add creates it
    _run("mount", "-t", "tmpfs", "splitbrain-netns", str(netns_dir if netns_dir.is_dir()
                                                          else "/run"))


def subnet_in_use(k: int) -> bool:
    """True when 10.213.K.0/24 is used by an interface, a route, a namespace or a registered
    cluster of this machine."""
    prefix = f"{SUBNET}.{k}."
    if any(prefix in _run("ip", "-4", *cmd) for cmd in (["addr"], ["route", "show", "table", "all"])):
        return True
    names = _run("ip", "netns", "list")
    if any(line.split()[0].startswith(f"sb{k}-") for line in names.splitlines() if line.strip()):
        return True
    return any(ns.startswith(f"sb{k}-") for st in registry.registered_states()
               for ns in st.get("netns", []))


def add_hub(hub: str, tester: str, tester_addr: str) -> None:
    """Namespace ``hub`` with bridge br0, joined to this namespace by veth ``tester`` carrying
    ``tester_addr``/24."""
    _run("ip", "netns", "add", hub)
    _run("ip", "-n", hub, "link", "add", "br0", "type", "bridge")
    _run("ip", "-n", hub, "link", "set", "br0", "up")
    _run("ip", "link", "add", tester, "type", "veth", "peer", "name", "tester", "netns", hub)
    _run("ip", "-n", hub, "link", "set", "tester", "master", "br0", "up")
    _run("ip", "addr", "add", f"{tester_addr}/24", "dev", tester)
    _run("ip", "link", "set", tester, "up")


def add_port(hub: str, port: str, ns: str, addr: str) -> None:
    """Namespace ``ns`` whose eth0 (``addr``/24) is plugged into the hub's bridge as
    ``port``."""
    _run("ip", "netns", "add", ns)
    _run("ip", "-n", hub, "link", "add", port, "type", "veth", "peer", "name", "eth0",
         "netns", ns)
    _run("ip", "-n", hub, "link", "set", port, "master", "br0", "up")
    _run("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", "eth0")
    _run("ip", "-n", ns, "link", "set", "eth0", "up")
    _run("ip", "-n", ns, "link", "set", "lo", "up")


def check_route(addr: str, dev: str) -> None:
    """Refuse (TesterFailure) unless ``ip route get addr`` goes out through interface ``dev``:
    packets for our private addresses must never leave the machine."""
    route = _run("ip", "route", "get", addr)
    if f"dev {dev} " not in route + " ":
        raise TesterFailure(f"refusing to start: the route to node address {addr} does "
                            f"not go through the tester's veth {dev} ({route.strip()})")


def set_loss(losses: dict[Link, int], links: Iterable[Link], percent: int) -> None:
    """Record ``percent`` % loss on ``links`` in ``losses`` (0 removes it); BadInput for a
    percentage out of 0..100."""
    if not 0 <= percent <= 100:
        raise BadInput(f"packet loss must be a percentage 0..100, not {percent}")
    for link in links:
        if percent:
            losses[link] = percent
        else:
            losses.pop(link, None)


def render_rules(tool: str, drops: dict[tuple[str, int | None], int],
                 chain: str = "INPUT") -> str:
    """The whole input rule set of one namespace: ``drops[(source_ip, dport)] = percent``
    (100 drops everything; a ``dport`` of None drops every TCP segment from the source, as
    Jepsen's partitions do). For iptables, ``chain`` other than INPUT renders a chain of its
    own (for ``iptables-restore --noflush``, which then replaces only that chain)."""
    if tool == "nft":
        lines = [f"table inet {TABLE} {{}}", f"flush table inet {TABLE}",
                 f"table inet {TABLE} {{", "  chain input {",
                 "    type filter hook input priority 0; policy accept;"]
        for (src, port), pct in sorted(drops.items()):
            chance = "" if pct >= 100 else f" numgen random mod 100 < {pct}"
            dport = "" if port is None else f" tcp dport {port}"
            lines.append(f"    ip saddr {src}{dport}{chance} drop")
        return "\n".join([*lines, "  }", "}", ""])
    lines = ["*filter", f":{chain} {'ACCEPT' if chain == 'INPUT' else '-'} [0:0]"]
    for (src, port), pct in sorted(drops.items()):
        chance = "" if pct >= 100 else (f" -m statistic --mode random --probability "
                                        f"{pct / 100:.2f}")
        dport = "" if port is None else f" --dport {port}"
        lines.append(f"-A {chain} -s {src}/32 -p tcp{dport}{chance} -j DROP")
    return "\n".join([*lines, "COMMIT", ""])


class NetnsNet(LocalNet):
    """The netns network (see the module docstring). ``open`` runs with the registry lock
    held (by :class:`LocalCluster.start`), which makes the subnet choice race-free."""

    kind = "netns"

    def __init__(self, *, delays: bool = False) -> None:
        self.proxy = ProxyNet() if delays else None
        self.tool = firewall() or "nft"
        self.k: int | None = None
        self.config: ClusterConfig | None = None
        self.namespaces: list[str] = []
        self.ifaces: list[str] = []
        self.cuts = frozenset()
        self.losses: dict[Link, int] = {}
        self.on_state: Callable[[], None] = lambda: None

    def ns(self, name: str) -> str:
        return f"sb{self.k}-{name}"

    def address(self, host: int) -> str:
        return f"{SUBNET}.{self.k}.{host}"

    async def open(self, config: ClusterConfig, root: Path, *, detached: bool) -> ClusterConfig:
        _own_netns_dir()
        self.k = next((k for k in range(256) if not subnet_in_use(k)), None)
        if self.k is None:
            raise TesterFailure(f"every subnet {SUBNET}.0-255.0/24 is in use; stop other "
                                f"clusters (splitbrain cluster down) or use --net proxy")
        hub, tester = self.ns("hub"), f"sb{self.k}t"
        self.namespaces = [hub, *(self.ns(n) for n in config.names)]
        self.ifaces = [tester]
        self.on_state()  # recorded before anything exists, so a crash leaves nothing behind
        nodes = []
        add_hub(hub, tester, self.address(TESTER_HOST))
        for i, spec in enumerate(config.nodes, start=1):
            ns, addr = self.ns(spec.name), self.address(i)
            add_port(hub, spec.name, ns, addr)
            check_route(addr, tester)
            nodes.append({**spec.__dict__, "host": addr, "client_port": CLIENT_PORT,
                          "peer_port": PEER_PORT})
        self.config = ClusterConfig.from_dict({**config.to_dict(), "nodes": nodes,
                                               "peer_routes": {}})
        if self.proxy is not None:
            hub_addr = self.address(HUB_HOST)
            _run("ip", "-n", hub, "addr", "add", f"{hub_addr}/24", "dev", "br0")
            _run("ip", "-n", hub, "link", "set", "lo", "up")
            self.config = await self.proxy.open(self.config, root, detached=detached,
                                                listen=hub_addr, prefix=("ip", "netns", "exec", hub))
            self.on_state()
        await self._apply()
        return self.config

    def node_argv(self, name: str, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.ns(name), *argv]

    @property
    def subnet(self) -> str:
        return f"{SUBNET}.{self.k}.0/24"

    def state(self) -> dict[str, Any]:
        return {**(self.proxy.state() if self.proxy is not None else {}),
                "netns": self.namespaces, "ifaces": self.ifaces,
                "subnet": self.subnet if self.namespaces else None}

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "subnet": self.subnet, "firewall": self.tool,
                "delays": "proxy" if self.proxy is not None else None}

    def _drop_at(self, a: str, b: str) -> tuple[str, tuple[str, int]]:
        """Where link a->b's segments can be dropped: (namespace key, (source, port))."""
        assert self.config is not None
        src = self.config.node(a).host
        if self.proxy is None:
            return b, (src, self.config.node(b).peer_port)
        return "hub", (src, int(self.config.peer_route(a, b).rsplit(":", 1)[1]))

    async def _apply(self) -> None:
        """Replace every node namespace's rule set with the current cuts and losses."""
        assert self.config is not None
        drops: dict[str, dict[tuple[str, int], int]] = {n: {} for n in self.config.names}
        if self.proxy is not None:
            drops = {"hub": {}}
        for (a, b), pct in [*self.losses.items(), *((link, 100) for link in self.cuts)]:
            where, match = self._drop_at(a, b)
            drops[where][match] = pct

        async def apply(name: str) -> None:
            argv = (["nft", "-f", "-"] if self.tool == "nft" else ["iptables-restore"])
            proc = await asyncio.create_subprocess_exec(
                "ip", "netns", "exec", self.ns(name), *argv, stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            out, _ = await proc.communicate(render_rules(self.tool, drops[name]).encode())
            if proc.returncode != 0:
                raise TesterFailure(f"{self.tool} refused the rules for node {name}: "
                                    f"{out.decode(errors='replace').strip()}")

        await asyncio.gather(*(apply(n) for n in drops))

    async def cut(self, links: Iterable[Link]) -> None:
        assert self.config is not None
        self.cuts = self.check_links(self.config, links)
        await self._apply()

    async def loss(self, links: Iterable[Link], percent: int) -> None:
        assert self.config is not None
        set_loss(self.losses, self.check_links(self.config, links), percent)
        await self._apply()

    async def delay(self, links: Iterable[Link], seconds: float) -> None:
        if self.proxy is None:
            raise BadInput("this netns cluster cannot delay links: without netem on this "
                           "kernel, delays need peer traffic routed through the proxy "
                           "(local_cluster(..., net='netns', delays=True)) or --net proxy")
        await self.proxy.delay(links, seconds)

    async def heal(self) -> None:
        self.cuts = frozenset()
        self.losses.clear()
        if self.proxy is not None:
            await self.proxy.heal()
        await self._apply()

    def close_sync(self) -> None:
        if self.proxy is not None:
            self.proxy.close_sync()
        registry.remove_network(self.state())
        self.namespaces, self.ifaces = [], []
        self.cuts = frozenset()
        self.losses.clear()
