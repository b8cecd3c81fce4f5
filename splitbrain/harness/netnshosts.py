"""Hosts that are network namespaces of this machine: the
:class:`~splitbrain.harness.interfaces.Hosts` backend that lets any database (etcd included)
run with its own address per node and be partitioned by the firewall network
(:class:`~splitbrain.harness.firewall.FirewallNet`), whose rules :meth:`NetnsHosts.run` installs
inside the namespace.

The layout is the netns network's (:mod:`splitbrain.harness.netns`): on a free subnet
``10.213.K.0/24``, namespace ``sbK-hub`` holds the bridge, namespace ``sbK-<host>`` has eth0 =
``10.213.K.<i>``, and the tester's veth ``sbKt`` = ``10.213.K.254``. Every host address must
route through ``sbKt`` (the netns network's route check) before anything starts. The namespaces
are recorded in the machine-wide registry (:mod:`splitbrain.harness.registry`) before they
exist, so a killed tester's are removed by the next tester; :meth:`NetnsHosts.close` removes
them.
"""

from __future__ import annotations

from pathlib import Path

from splitbrain.errors import BadInput, TesterFailure
from splitbrain.harness import netns, registry
from splitbrain.harness.interfaces import CommandResult
from splitbrain.harness.localhosts import LocalHosts


class NetnsHosts(LocalHosts):
    """``hosts`` as namespaces of this machine; daemons' directories under ``root``."""

    def __init__(self, root: Path, hosts: list[str]):
        super().__init__(root, hosts)
        reason = netns.unavailable_reason()
        if reason:
            raise BadInput(f"network namespaces are not available here: {reason}")
        # The subnet is chosen now, so that every host's address is known before setup (the
        # placements carry it); setup checks again, under the registry lock, that it is free.
        self.k = _free_subnet()
        self.addresses = {h: f"{netns.SUBNET}.{self.k}.{i}"
                          for i, h in enumerate(self.hosts, start=1)}
        self._built = False

    def _pieces(self) -> dict:
        return {"netns": [f"sb{self.k}-hub", *(f"sb{self.k}-{h}" for h in self.hosts)],
                "ifaces": [f"sb{self.k}t"], "subnet": f"{netns.SUBNET}.{self.k}.0/24"}

    async def setup(self) -> None:
        await super().setup()
        with registry.registry_lock():
            registry.reap_orphans()
            if netns.subnet_in_use(self.k):
                raise TesterFailure(f"subnet {netns.SUBNET}.{self.k}.0/24 was taken by another "
                                    f"cluster while this one was being set up; run again")
            registry.write_state(self.root, {"owner": registry.me(), "net": "netns-hosts",
                                             "made_in": registry.net_namespace(), "procs": {},
                                             **self._pieces()})
            self._built = True
            tester, hub = f"sb{self.k}t", f"sb{self.k}-hub"
            netns.add_hub(hub, tester, f"{netns.SUBNET}.{self.k}.{netns.TESTER_HOST}")
            for host, addr in self.addresses.items():
                netns.add_port(hub, host, f"sb{self.k}-{host}", addr)
                netns.check_route(addr, tester)

    def address(self, host: str) -> str:
        return self.addresses[host]

    def _wrap(self, host: str, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", f"sb{self.k}-{host}", *argv]

    async def start(self, host: str, name: str, argv: list[str], log: str) -> None:
        await super().start(host, name, self._wrap(host, argv), log)

    async def run(self, host: str, argv: list[str], *, input: bytes | None = None,
                  timeout: float = 30.0) -> CommandResult:
        return await super().run(host, self._wrap(host, argv), input=input, timeout=timeout)

    async def close(self) -> None:
        """Remove the namespaces and the tester's veth (after :meth:`teardown` stopped the
        daemons). Idempotent."""
        if self._built:
            registry.remove_network(self._pieces())
            registry.unregister(self.root)
            self._built = False


def _free_subnet() -> int:
    with registry.registry_lock():
        registry.reap_orphans()
        k = next((k for k in range(256) if not netns.subnet_in_use(k)), None)
    if k is None:
        raise TesterFailure(f"every subnet {netns.SUBNET}.0-255.0/24 is in use; stop other "
                            f"clusters (splitbrain cluster down)")
    return k
