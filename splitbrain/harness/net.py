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

:class:`Net` itself is declared in :mod:`splitbrain.harness.interfaces`;
:func:`splitbrain.harness.networks.make_net` builds a local one by name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Callable, Iterable

from splitbrain.db.config import ClusterConfig
from splitbrain.harness.interfaces import Link, Net


class LocalNet(Net, ABC):
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
