"""The design facts of each mode, the comparison table's first rows: how it replicates, how it
resolves conflicts, what consistency it offers and how it knows its members. Filled in from the
run's own cluster config, so the quorum or group size shown is the one the run used."""

from __future__ import annotations

from dataclasses import MISSING, fields
from typing import Any, Callable

from splitbrain.db.config import ClusterConfig

Facts = Callable[[dict[str, Any]], dict[str, str]]


def _ring(p: dict[str, Any]) -> str:
    return (f"consistent-hash ring ({p['vnodes']} vnodes a node), sloppy quorum "
            f"N={p['n']} R={p['r']} W={p['w']}, hinted handoff, read repair, "
            f"Merkle anti-entropy")


def _dynamo(p: dict[str, Any]) -> dict[str, str]:
    return {"replication": _ring(p),
            "conflicts": "vector clocks: concurrent writes kept as siblings, merged by the "
                         "client with the read's causal context",
            "consistency": "eventual only",
            "membership": "gossip, with local failure suspicion"}


def _lww(p: dict[str, Any]) -> dict[str, str]:
    return {**_dynamo(p),
            "conflicts": "server-side last-write-wins by the coordinator's wall-clock timestamp"}


def _dynamodb(p: dict[str, Any]) -> dict[str, str]:
    return {"replication": f"{p['partitions']} partitions, each a Multi-Paxos group of "
                           f"{p['replication']} replicas with a leased leader "
                           f"({p['lease_ms']} ms); a write is acknowledged by a majority",
            "conflicts": "server-side: the order of the partition's Paxos log (last write wins)",
            "consistency": "eventual reads at any replica, plus strong reads and conditional "
                           "writes at the leader (linearizable)",
            "membership": "static (the cluster config); leaders by Paxos ballots and leases"}


#: Each mode's design facts, by mode name (the names of :data:`splitbrain.db.config.MODES`).
DESIGN: dict[str, Facts] = {"dynamo": _dynamo, "lww": _lww, "dynamodb": _dynamodb}
ROWS = (("replication", "replication"), ("conflicts", "conflict resolution"),
        ("consistency", "consistency offered"), ("membership", "membership"))


def facts(mode: str, cluster: dict[str, Any] | None) -> dict[str, str]:
    """The design facts of ``mode`` as the run's cluster config ``cluster`` set it up (a field
    it lacks has the config's default)."""
    defaults = {f.name: f.default for f in fields(ClusterConfig) if f.default is not MISSING}
    return DESIGN[mode]({**defaults, **(cluster or {})})
