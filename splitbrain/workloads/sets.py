"""The set workload: unique elements added to many keys, reads of whole sets, and a final
(eventual) read of every key on every node (Jepsen's set-full). How an add reaches the store is
the mode's story:
``dynamodb`` adds atomically (``add-to-set``); ``dynamo`` reads the siblings, merges them by
union, adds the element and writes back with the causal context (the Dynamo shopping cart);
``lww`` reads, adds and writes back over the old value, and so can lose concurrent adds."""

from __future__ import annotations

from typing import Any, Mapping

from splitbrain.db.client import OK, NodeClient, Reply
from splitbrain.harness import generators as gen
from splitbrain.harness.generators import Context, Generator, Invocation
from splitbrain.workloads import checks
from splitbrain.workloads.base import Checker, Workload, read_merge_write, read_value


def union(siblings: list) -> list:
    """The union of sibling sets (each a JSON list), sorted."""
    out: set = set()
    for s in siblings:
        out.update(s or [])
    return sorted(out)


class SetWorkload(Workload):
    """Adds of the elements 0, 1, 2... spread over ``keys`` keys, and reads (a fifth of ops).
    32 keys by default (3 before): on 5 nodes every dynamodb group and 8 of the 10 possible
    dynamo preference lists hold some key, so a fault that takes out 3 nodes mostly takes out
    some key's every replica. A read's value is the set the application sees (in dynamo, the union of the siblings;
    ``meta.sibling_count`` says how many there were)."""

    name = "set"

    def __init__(self, mode: str, *, keys: int = 32):
        super().__init__(mode)
        self.keys = [f"s{i}" for i in range(keys)]
        self._next_element = 0

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "keys": len(self.keys)}

    def generator(self) -> Generator:
        return gen.fn(self._next)

    def _read_consistency(self, ctx: Context) -> str:
        """A read's consistency, drawn from :attr:`reads`."""
        return self.reads[0] if len(self.reads) == 1 else ctx.rng.choice(self.reads)

    def _next(self, ctx: Context) -> Invocation:
        key = ctx.rng.choice(self.keys)
        if ctx.rng.random() < 0.2:
            return Invocation("read", key=key, consistency=self._read_consistency(ctx))
        element = self._next_element
        self._next_element += 1
        return Invocation("add", key=key, value=element)

    async def invoke(self, client: NodeClient, inv: Invocation) -> Reply:
        if inv.f == "read":
            consistency = inv.consistency if self.mode == "dynamodb" else None
            r = await client.get(inv.key, consistency)
            if r.type == OK:
                if self.mode == "dynamo":
                    r.meta["sibling_count"] = len(r.value or [])
                    r.value = union(r.value or [])
                else:
                    r.value = sorted(read_value(r) or [])
            return r
        if inv.f == "add":
            if self.mode == "dynamodb":
                return await client.add_to_set(inv.key, inv.value)
            # lww has at most one "sibling", so the union is read-add-write there too.
            return await read_merge_write(client, inv.key,
                                          lambda sibs: union(sibs + [[inv.value]]), inv.value)
        raise ValueError(f"the set workload has no op {inv.f!r}")

    def final_reads(self) -> list[Invocation]:
        """Eventual: on every node, its own replica's state (dynamodb), so that the final reads
        compare replicas rather than ask the leader each time."""
        return [Invocation("read", key=k, consistency="eventual") for k in self.keys]

    def checkers(self, params: Mapping[str, Any] | None = None) -> dict[str, Checker]:
        return checks.for_workload("set", self.mode, params)
