"""The local networks by name: :data:`NET_KINDS` and :func:`make_net` (kept apart from
:mod:`splitbrain.harness.net`, which the implementations import, so there is no import
cycle)."""

from __future__ import annotations

from splitbrain.errors import BadInput
from splitbrain.harness import netns
from splitbrain.harness.net import LocalNet
from splitbrain.harness.proxy import ProxyNet

NET_KINDS = ("proxy", "netns", "auto")


def make_net(kind: str, *, delays: bool = False) -> LocalNet:
    """The local network named ``kind``: ``proxy``, ``netns``, or ``auto`` (netns when this
    process can build namespaces and firewall rules, else proxy). ``delays`` asks a netns
    network to route peer traffic through a proxy so that links can be delayed (the proxy
    network always can)."""
    if kind == "proxy":
        return ProxyNet()
    if kind not in NET_KINDS:
        raise BadInput(f"unknown network {kind!r}; use one of {', '.join(NET_KINDS)}")
    if kind == "netns":
        reason = netns.unavailable_reason()
        if reason:
            raise BadInput(f"--net netns is not available here: {reason}")
        return netns.NetnsNet(delays=delays)
    return ProxyNet() if netns.unavailable_reason() else netns.NetnsNet(delays=delays)
