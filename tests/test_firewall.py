"""The firewall network on hosts without nft or iptables: healing (which every start does)
works, a cut refuses with one sentence naming the host and the fix."""

from __future__ import annotations

import asyncio

import pytest

from splitbrain import errors
from splitbrain.harness.firewall import FirewallNet
from splitbrain.harness.interfaces import CommandResult, Placement


class NoFirewallHosts:
    """Hosts on which ``command -v nft || command -v iptables-restore`` finds nothing."""

    hosts = ["a", "b"]

    def __init__(self) -> None:
        self.commands: list[list[str]] = []

    async def run(self, host: str, argv: list[str], *, input: bytes | None = None,
                  timeout: float = 30.0) -> CommandResult:
        self.commands.append(argv)
        return CommandResult(1, "", "")


def test_heal_works_and_a_cut_refuses_without_a_firewall():
    hosts = NoFirewallHosts()
    net = FirewallNet(hosts, [Placement("n1", "a", "10.0.0.1", "/d/n1"),  # type: ignore[arg-type]
                              Placement("n2", "b", "10.0.0.2", "/d/n2")])
    asyncio.run(net.heal())
    assert all(argv[0] == "sh" for argv in hosts.commands)  # only the probes ran
    with pytest.raises(errors.TesterFailure, match="^host b has neither nft nor iptables, so "
                                                   "node n2 cannot be cut off; install nftables"):
        asyncio.run(net.cut([("n1", "n2")]))
    asyncio.run(net.close())
