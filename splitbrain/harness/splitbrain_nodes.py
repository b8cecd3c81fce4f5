"""Splitbrain's own node as a :class:`~splitbrain.harness.interfaces.Database`: the cluster
config every node reads, the ``splitbrain node`` command, health and clock skew through the
node's HTTP API (``GET /health``, ``PUT /admin/clock``).

Each node's directory on its host holds::

    DIR/cluster.json   the config (every node's address and ports, data dirs)
    DIR/data/          the node's data dir (kept across restarts)
    DIR/node.log       stdout and stderr, appended across restarts
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from splitbrain.db.client import NodeClient
from splitbrain.db.config import ClusterConfig, NodeSpec
from splitbrain.harness.interfaces import NodeUnreachable, Placement

CONFIG_FILE = "cluster.json"
LOG_FILE = "node.log"


async def set_clock(url: str, name: str, body: dict[str, float], what: str) -> None:
    """Set the node at ``url``'s clock through ``PUT /admin/clock`` (``body``: ``offset`` of
    its wall clock in seconds, or ``rate`` of its monotonic clock); raises
    :class:`NodeUnreachable` (naming node ``name`` and ``what`` was asked) if it does not
    answer."""
    async with NodeClient(url, timeout=1.0) as client:
        reply = await client.set_clock(body)
    if reply.type != "ok":
        raise NodeUnreachable(f"node {name} did not accept {what} ({reply.error})")


async def set_sync_delay(url: str, name: str, seconds: float) -> None:
    """Make the node at ``url`` start every storage sync ``seconds`` late through ``PUT
    /admin/disk`` (0 restores it); raises :class:`NodeUnreachable` (naming node ``name``) if
    it does not answer."""
    async with NodeClient(url, timeout=1.0) as client:
        reply = await client.set_disk({"sync_delay": seconds})
    if reply.type != "ok":
        raise NodeUnreachable(f"node {name} did not accept the sync delay {seconds:g} s "
                              f"({reply.error})")


class SplitbrainNodes:
    """``splitbrain node`` processes in ``mode`` with cluster config fields ``params`` (n, r,
    w, ...). :attr:`config` is the config once :meth:`setup` placed the nodes."""

    log_file = LOG_FILE

    def __init__(self, mode: str, **params: Any):
        self.mode = mode
        self.params = params
        self.config: ClusterConfig | None = None
        self.directories: dict[str, str] = {}

    def setup(self, placements: list[Placement]) -> None:
        nodes = [asdict(NodeSpec(name=p.name, host=p.address, client_port=p.client_port,
                                 peer_port=p.peer_port, data_dir=f"{p.directory}/data"))
                 for p in placements]
        d: dict[str, Any] = {"mode": self.mode, "nodes": nodes, **self.params}
        count = len(nodes)
        if count < d.get("n", 3):  # as local_config does for small clusters
            d.update(n=count, r=min(d.get("r", 2), count), w=min(d.get("w", 2), count))
        if self.mode == "dynamodb" and count < d.get("replication", 3):
            d["replication"] = count
        self.config = ClusterConfig.from_dict(d)
        self.directories = {p.name: p.directory for p in placements}

    def _config(self) -> ClusterConfig:
        if self.config is None:
            raise RuntimeError("SplitbrainNodes.setup() must place the nodes first")
        return self.config

    def describe(self) -> dict[str, Any]:
        return self._config().to_dict()

    def files(self, name: str) -> dict[str, bytes]:
        config = self._config()
        config.node(name)  # ConfigError for a name it does not have
        return {CONFIG_FILE: (json.dumps(config.to_dict(), indent=2) + "\n").encode()}

    def command(self, name: str, python: str) -> list[str]:
        return [python, "-m", "splitbrain.cli", "node", "--config",
                f"{self.directories[name]}/{CONFIG_FILE}", "--name", name]

    async def healthy(self, name: str) -> bool:
        async with NodeClient(self.client_url(name), timeout=0.5) as client:
            return (await client.health()).type == "ok"

    def client_url(self, name: str) -> str:
        return self._config().node(name).client_url

    async def set_clock_offset(self, name: str, seconds: float) -> None:
        await set_clock(self.client_url(name), name, {"offset": seconds},
                        f"the clock offset {seconds:g} s")

    async def set_clock_rate(self, name: str, rate: float) -> None:
        await set_clock(self.client_url(name), name, {"rate": rate}, f"the clock rate {rate:g}")

