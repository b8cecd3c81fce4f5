"""etcd members as a :class:`~splitbrain.harness.interfaces.Database`: one ``etcd`` process per
node, its data dir ``DIR/data`` kept across restarts, healthy once ``GET /health`` says
``{"health": "true"}``. Members find each other through ``--initial-cluster`` (every member's
one peer URL), which is why a per-link proxy cannot sit between them: partitions need hosts of
their own (namespaces or SSH hosts) and their firewalls. etcd offers no clock control, so the
clock nemesis refuses an etcd cluster at start.
"""

from __future__ import annotations

import shutil
from typing import Any

from splitbrain.errors import BadInput
from splitbrain.etcd.client import EtcdClient
from splitbrain.harness.interfaces import Placement, placed

LOG_FILE = "etcd.log"
CLIENT_PORT, PEER_PORT = 2379, 2380
#: Raft timing: etcd's defaults (100 ms heartbeats, 1 s election timeout).
HEARTBEAT_MS, ELECTION_MS = 100, 1000


def find_etcd(binary: str | None) -> str:
    """The etcd binary: ``binary`` if given, else ``etcd`` on PATH; BadInput saying how to
    install it when missing."""
    path = shutil.which(binary or "etcd")
    if path is None:
        where = f"--etcd-bin {binary} is not an executable" if binary else "etcd is not on PATH"
        raise BadInput(f"{where}; install it (apt-get install etcd-server) or name it with "
                       f"--etcd-bin")
    return path


class EtcdNodes:
    """``etcd`` members run from ``binary`` (a path valid on every host)."""

    log_file = LOG_FILE

    def __init__(self, binary: str, *, token: str = "splitbrain"):
        self.binary = binary
        self.token = token
        self.placements: dict[str, Placement] = {}

    def setup(self, placements: list[Placement]) -> None:
        self.placements = {p.name: p for p in placements}

    def describe(self) -> dict[str, Any]:
        # ``replication``: every member holds every key, and a write needs a majority of them
        # (the staleness checker's PBS prediction reads it as it does for dynamodb).
        return {"db": "etcd", "binary": self.binary, "replication": len(self.placements),
                "heartbeat_ms": HEARTBEAT_MS,
                "election_ms": ELECTION_MS,
                "nodes": [{"name": p.name, "host": p.host, "address": p.address,
                           "client_port": p.client_port, "peer_port": p.peer_port}
                          for p in self.placements.values()]}

    def files(self, name: str) -> dict[str, bytes]:
        placed(self.placements, name, "etcd member")
        return {}

    def _peer_url(self, p: Placement) -> str:
        return f"http://{p.address}:{p.peer_port}"

    def command(self, name: str, python: str) -> list[str]:
        p = placed(self.placements, name, "etcd member")
        client = self.client_url(name)
        cluster = ",".join(f"{q.name}={self._peer_url(q)}" for q in self.placements.values())
        return [self.binary, "--name", name, "--data-dir", f"{p.directory}/data",
                "--listen-client-urls", client, "--advertise-client-urls", client,
                "--listen-peer-urls", self._peer_url(p),
                "--initial-advertise-peer-urls", self._peer_url(p),
                "--initial-cluster", cluster, "--initial-cluster-state", "new",
                "--initial-cluster-token", self.token,
                "--heartbeat-interval", str(HEARTBEAT_MS), "--election-timeout", str(ELECTION_MS)]

    async def healthy(self, name: str) -> bool:
        """True once the member serves ``/health`` at all: a restarted member on the minority
        side of a partition is up though it has no leader (the run loop waits for a leader
        before the workload starts)."""
        async with EtcdClient(self.client_url(name), timeout=0.5) as client:
            return await client.serving()

    def client_url(self, name: str) -> str:
        p = placed(self.placements, name, "etcd member")
        return f"http://{p.address}:{p.client_port}"
