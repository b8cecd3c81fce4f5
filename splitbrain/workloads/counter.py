"""The counter workload: adds of small positive deltas to one key (or ``keys`` keys), reads
(strong in ``dynamodb``), and a final eventual read of each key on every node. ``dynamodb`` adds atomically;
``dynamo`` and ``lww`` read, add and write back (dynamo merges siblings by taking the largest),
which is how applications lose increments on those stores."""

from __future__ import annotations

from typing import Any, Mapping

from splitbrain.db.client import OK, NodeClient, Reply
from splitbrain.harness import generators as gen
from splitbrain.harness.generators import Context, Generator, Invocation
from splitbrain.workloads import checks
from splitbrain.workloads.base import Checker, Workload, read_merge_write, read_value

class Counter(Workload):
    """Adds of 1..5 (four ops in five) and reads of keys ``c0``..``c<keys-1>`` (one key by
    default; more spread the adds over more partitions and so more leaders); absent reads as
    0."""

    name = "counter"

    def __init__(self, mode: str, *, keys: int = 1):
        super().__init__(mode)
        self.keys = [f"c{i}" for i in range(keys)]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "keys": len(self.keys)}

    def generator(self) -> Generator:
        return gen.fn(self._next)

    def _next(self, ctx: Context) -> Invocation:
        key = ctx.rng.choice(self.keys)
        if ctx.rng.random() < 0.2:
            return Invocation("read", key=key, consistency=self._consistency())
        return Invocation("add", key=key, value=ctx.rng.randint(1, 5))

    def _consistency(self) -> str:
        return "strong" if self.mode == "dynamodb" else "eventual"

    async def invoke(self, client: NodeClient, inv: Invocation) -> Reply:
        if inv.f == "read":
            r = await client.get(inv.key, inv.consistency if self.mode == "dynamodb" else None)
            if r.type == OK:
                r.value = max(r.value) if self.mode == "dynamo" and r.value else read_value(r) or 0
            return r
        if inv.f == "add":
            if self.mode == "dynamodb":
                return await client.add(inv.key, inv.value)
            merge = lambda sibs: (max(sibs) if sibs else 0) + inv.value  # noqa: E731
            return await read_merge_write(client, inv.key, merge, inv.value)
        raise ValueError(f"the counter workload has no op {inv.f!r}")

    def final_reads(self) -> list[Invocation]:
        """Eventual: on every node, its own replica's state (dynamodb), so that the final reads
        compare replicas; an add every replica lacks is lost."""
        return [Invocation("read", key=k, consistency="eventual") for k in self.keys]

    def checkers(self, params: Mapping[str, Any] | None = None) -> dict[str, Checker]:
        return checks.for_workload("counter", self.mode, params)
