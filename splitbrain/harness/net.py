"""The network between the nodes, as the nemesis sees it: directed links it can cut, heal and
delay (DESIGN.md, "Networks").

A link ``(a, b)`` is the path node ``a`` uses to send to node ``b`` (the TCP connections ``a``
opens to ``b``'s peer port). Cutting it loses ``a``'s messages to ``b`` the way a
dropped-packet partition does: bytes are held, TCP sees silence, not a reset. Partitions cut peer
traffic only: the tester's clients always reach every node (as in Jepsen).

Implementations:

* ``proxy`` (:class:`splitbrain.harness.proxy.ProxyNet`): a TCP proxy process on every directed
  link; any OS, no root. Cut, heal, delay.
* ``netns`` (:class:`splitbrain.harness.netns.NetnsNet`): every node in its own Linux network
  namespace on a bridge of the tester's own; partitions and packet loss by nftables/iptables
  drop rules inside the namespaces. Needs root.

:func:`make_net` builds one by name (``proxy``, ``netns`` or ``auto``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Callable, Iterable

from splitbrain.db.config import ClusterConfig
from splitbrain.errors import BadInput

Link = tuple[str, str]
NET_KINDS = ("proxy", "netns", "auto")


class Net(ABC):
    """What the nemesis and the run loop may do to a cluster's network.

    ``kind`` is ``"proxy"`` or ``"netns"`` (what the run records in test.json and the report);
    ``cuts`` is the set of directed links currently cut.
    """

    kind: str
    cuts: frozenset[Link] = frozenset()

    @abstractmethod
    async def cut(self, links: Iterable[Link]) -> None:
        """Drop traffic on exactly these directed links from now on: replaces the current cut
        (links not listed are healed)."""

    @abstractmethod
    async def heal(self) -> None:
        """Restore every link: no cut, no delay, no loss."""

    @abstractmethod
    async def delay(self, links: Iterable[Link], seconds: float) -> None:
        """Delay every message on these directed links by ``seconds`` (0 removes the delay)."""

    async def loss(self, links: Iterable[Link], percent: int) -> None:
        """Drop ``percent`` % of the packets on these links at random (0 removes the loss).
        Only packet networks can; a TCP proxy cannot lose part of a byte stream."""
        raise BadInput(f"the {self.kind} network cannot drop individual packets; use --net netns "
                       f"for packet loss")

    @abstractmethod
    async def close(self) -> None:
        """Heal and release everything this network created. Idempotent."""

    def describe(self) -> dict[str, Any]:
        """This network's kind and parameters (netns: subnet, firewall, delays). test.json
        and the report record only :attr:`kind`."""
        return {"kind": self.kind}


class LocalNet(Net):
    """A network the local cluster builds around node processes on this machine.
    ``on_state`` is called (by the network, during :meth:`open`) whenever :meth:`state`
    changes, so the cluster records it before anything it names exists."""

    on_state: Callable[[], None]

    @abstractmethod
    async def open(self, config: ClusterConfig, root: Path, *, detached: bool) -> ClusterConfig:
        """Build the network for ``config``'s nodes (files under ``root``; helpers that outlive
        the tester when ``detached``) and return the config the nodes must run with (node
        addresses, ``peer_routes``)."""

    def node_argv(self, name: str, argv: list[str]) -> list[str]:
        """The command that runs node ``name``'s ``argv`` inside this network."""
        return argv

    def state(self) -> dict[str, Any]:
        """What :mod:`splitbrain.harness.registry` must tear down if the tester dies:
        ``procs`` (name -> Proc dict), ``netns`` and ``ifaces`` lists."""
        return {}

    @abstractmethod
    def close_sync(self) -> None:
        """:meth:`close`, callable outside the event loop (at interpreter exit)."""

    async def close(self) -> None:
        self.close_sync()

    def check_links(self, config: ClusterConfig, links: Iterable[Link]) -> frozenset[Link]:
        names = set(config.names)
        out = frozenset((a, b) for a, b in links)
        for a, b in out:
            if a not in names or b not in names or a == b:
                raise ValueError(f"no link {a}->{b} between two distinct nodes of "
                                 f"{sorted(names)}")
        return out


def make_net(kind: str, *, delays: bool = False) -> LocalNet:
    """The local network named ``kind``: ``proxy``, ``netns``, or ``auto`` (netns when this
    process can build namespaces and firewall rules, else proxy). ``delays`` asks a netns
    network to route peer traffic through a proxy so that links can be delayed (the proxy
    network always can)."""
    from splitbrain.harness.proxy import ProxyNet

    if kind == "proxy":
        return ProxyNet()
    if kind not in NET_KINDS:
        raise BadInput(f"unknown network {kind!r}; use one of {', '.join(NET_KINDS)}")
    from splitbrain.harness import netns

    if kind == "netns":
        reason = netns.unavailable_reason()
        if reason:
            raise BadInput(f"--net netns is not available here: {reason}")
        return netns.NetnsNet(delays=delays)
    return ProxyNet() if netns.unavailable_reason() else netns.NetnsNet(delays=delays)
