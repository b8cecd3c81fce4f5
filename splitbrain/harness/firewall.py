"""The ``firewall`` network: partitions on real hosts by drop rules in each host's own firewall,
installed through :class:`~splitbrain.harness.interfaces.Hosts` (over SSH), as Jepsen does.

A cut link ``a->b`` is the same rule the netns network renders (:func:`netns.render_rules`):
on ``b``'s host, drop TCP segments from ``a``'s address to ``b``'s peer port. Everything lives in
one object of ours, so heal and close remove exactly what was added and nothing else:

* nftables: the table ``inet splitbrain`` (replaced atomically with ``nft -f -``; deleted on
  close);
* iptables: the chain ``splitbrain`` in the filter table, jumped to from the first rule of
  ``INPUT`` (filled with ``iptables-restore --noflush``; the jump and the chain are deleted on
  close).

Packet loss is the same rule with a random match. Delays would need netem on every host, which
this network does not drive: :meth:`FirewallNet.delay` refuses in one sentence.
"""

from __future__ import annotations

import asyncio
from typing import Any, Iterable

from splitbrain.errors import BadInput, TesterFailure
from splitbrain.harness.interfaces import Hosts, Link, Net, Placement
from splitbrain.harness.netns import TABLE, render_rules, set_loss

CHAIN = "splitbrain"
Drops = dict[tuple[str, int | None], int]


class FirewallNet(Net):
    """Drop rules on the hosts of ``placements`` (one node per host). ``whole_host`` drops
    every TCP segment from ``a``'s address at ``b`` (Jepsen's partitions) instead of those to
    ``b``'s peer port: needed by databases whose peer connections carry messages both ways
    (etcd streams messages to the member that dialed), at the price of cutting ``b``'s own
    connections to ``a`` too."""

    kind = "firewall"

    def __init__(self, hosts: Hosts, placements: list[Placement], *, whole_host: bool = False):
        self.hosts = hosts
        self.whole_host = whole_host
        self.placements = {p.name: p for p in placements}
        self.cuts: frozenset[Link] = frozenset()
        self.losses: dict[Link, int] = {}
        self.tools: dict[str, str] = {}  # host -> nft | iptables, for the hosts we touched
        self.without_firewall: set[str] = set()

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "firewall": sorted(set(self.tools.values()))}

    def _check(self, links: Iterable[Link]) -> frozenset[Link]:
        out = frozenset((a, b) for a, b in links)
        for a, b in out:
            if a not in self.placements or b not in self.placements or a == b:
                raise ValueError(f"no link {a}->{b} between two distinct nodes of "
                                 f"{sorted(self.placements)}")
        return out

    async def _tool(self, host: str) -> str | None:
        """``nft`` or ``iptables`` on ``host`` (nft preferred), None when it has neither."""
        if host not in self.tools and host not in self.without_firewall:
            found = await self.hosts.run(host, ["sh", "-c", "command -v nft || command -v "
                                                            "iptables-restore"])
            path = found.out.strip().splitlines()
            if found.code != 0 or not path:
                self.without_firewall.add(host)
            else:
                self.tools[host] = "nft" if path[0].endswith("nft") else "iptables"
        return self.tools.get(host)

    async def _apply(self) -> None:
        drops: dict[str, Drops] = {name: {} for name in self.placements}
        for (a, b), pct in [*self.losses.items(), *((link, 100) for link in self.cuts)]:
            port = None if self.whole_host else self.placements[b].peer_port
            drops[b][(self.placements[a].address, port)] = pct
        await asyncio.gather(*(self._install(self.placements[n], d) for n, d in drops.items()))

    async def _install(self, p: Placement, drops: Drops) -> None:
        tool = await self._tool(p.host)
        if tool is None:
            if drops:
                raise TesterFailure(f"host {p.host} has neither nft nor iptables, so node "
                                    f"{p.name} cannot be cut off; install nftables there "
                                    f"(apt-get install nftables) or drop partition from "
                                    f"--nemesis")
            return  # nothing to heal on a host where nothing could be installed
        if tool == "nft":
            result = await self.hosts.run(p.host, ["nft", "-f", "-"],
                                          input=render_rules("nft", drops).encode())
        else:
            result = await self.hosts.run(p.host, ["iptables-restore", "--noflush"],
                                          input=render_rules("iptables", drops, CHAIN).encode())
            if result.code == 0:
                result = await self.hosts.run(p.host, ["sh", "-c", f"iptables -C INPUT -j {CHAIN}"
                                                                   f" 2>/dev/null || iptables -I "
                                                                   f"INPUT 1 -j {CHAIN}"])
        if result.code != 0:
            raise TesterFailure(f"{tool} on host {p.host} refused the drop rules for node "
                                f"{p.name}: {(result.err or result.out).strip()}")

    async def cut(self, links: Iterable[Link]) -> None:
        self.cuts = self._check(links)
        await self._apply()

    async def loss(self, links: Iterable[Link], percent: int) -> None:
        set_loss(self.losses, self._check(links), percent)
        await self._apply()

    async def delay(self, links: Iterable[Link], seconds: float) -> None:
        raise BadInput("the firewall network of remote hosts cannot delay links (that needs "
                       "netem on every host); drop the delaying fault from --nemesis")

    async def heal(self) -> None:
        """Install empty rule sets on every host: this also heals what a killed tester's
        network left there."""
        self.cuts = frozenset()
        self.losses.clear()
        await self._apply()

    async def close(self) -> None:
        """Remove our table or chain from every host we touched. Idempotent."""
        self.cuts = frozenset()
        self.losses.clear()
        remove = {"nft": f"nft delete table inet {TABLE} 2>/dev/null; true",
                  "iptables": f"iptables -D INPUT -j {CHAIN} 2>/dev/null; iptables -F {CHAIN} "
                              f"2>/dev/null; iptables -X {CHAIN} 2>/dev/null; true"}
        tools, self.tools = self.tools, {}
        await asyncio.gather(*(self.hosts.run(host, ["sh", "-c", remove[tool]])
                               for host, tool in tools.items()))
