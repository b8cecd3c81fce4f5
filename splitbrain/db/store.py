"""The contract between the HTTP layer and a mode's replication logic.

Each mode (``dynamo``, ``lww``, ``dynamodb``) provides a class implementing :class:`Store`. The
HTTP layer (``splitbrain.db.api``) parses requests, calls these methods and renders their
results or :class:`~splitbrain.db.errors.NodeError` as docs/node-api.md describes. Stores are
built from an :class:`~splitbrain.db.env.Env` and touch the world only through it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass
class ReadResult:
    """What a read returns. ``replica``: which replica answered, when one replica's own state
    did (dynamodb: ``name``, ``partition`` and ``applied``, the log entries it had applied), so
    a tester can compare replicas. ``quorum``: how many replicas answered a quorum read
    (dynamo, lww; see :func:`quorum`)."""

    values: list[Any]
    context: str | None = None
    version: int | None = None
    ts: float | None = None
    replica: dict[str, Any] | None = None
    quorum: dict[str, int] | None = None


@dataclass
class WriteResult:
    """What a write returns; ``quorum`` as for :class:`ReadResult` (the acknowledgements)."""

    version: int | None = None
    ts: float | None = None
    context: str | None = None
    values: list[Any] = field(default_factory=list)
    quorum: dict[str, int] | None = None


def quorum(needed: int, answered: int, fallbacks: int) -> dict[str, int]:
    """How a quorum operation was answered: ``needed`` (the R or W the node waited for),
    ``answered`` (the replicas whose answers the result holds: read states merged, or write
    acknowledgements) and ``fallbacks`` (how many of those answered as stand-ins for an owner
    believed down, a sloppy quorum's hinted replicas)."""
    return {"needed": needed, "answered": answered, "fallbacks": fallbacks}


class Store(Protocol):
    """A mode's replication logic. Every method may raise NodeError."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def get(self, key: str, *, consistency: str | None = None,
                  r: int | None = None) -> ReadResult: ...

    async def put(self, key: str, value: Any, *, context: str | None = None,
                  w: int | None = None, condition: dict | None = None) -> WriteResult: ...

    async def add(self, key: str, delta: int | float) -> WriteResult: ...

    async def add_to_set(self, key: str, element: Any) -> WriteResult: ...

    def status(self) -> dict[str, Any]: ...


@runtime_checkable
class Repairable(Protocol):
    """A store whose replicas can be told to compare and repair all their data now (dynamo and
    lww: every owned range's Merkle tree with every other owner)."""

    def repair(self) -> int:
        """Start the repair; returns how many exchanges started."""
        ...
