"""The register workload: many independent keys, each a register that gets a bounded number of
ops, with unique written values (so a read names the write it saw), reads of every consistency
the mode has, and compare-and-set where the mode has it (Jepsen's independent cas-register)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from splitbrain.db.client import OK, NodeClient, Reply
from splitbrain.harness import generators as gen
from splitbrain.harness.generators import Context, Generator, Invocation
from splitbrain.workloads import checks
from splitbrain.workloads.base import Checker, Workload, read_merge_write, read_value


@dataclass
class _Key:
    name: str
    issued: int = 0
    written: list[int] = field(default_factory=list)


class Register(Workload):
    """``keys_in_flight`` keys are in use at a time; a key retires after ``ops_per_key`` ops
    and a fresh one takes its place. Written values are 1, 2, 3... per key. In ``dynamodb``
    reads are strong or eventual and a fifth of ops are cas ``[expected, new]``; elsewhere reads
    are eventual. A dynamo write reads the siblings and replaces them with the read's context,
    as a Dynamo application overwrites a value."""

    name = "register"

    def __init__(self, mode: str, *, keys_in_flight: int = 4, ops_per_key: int = 100):
        super().__init__(mode)
        self.keys_in_flight = keys_in_flight
        self.ops_per_key = ops_per_key
        self.keys: list[str] = []
        self._active: list[_Key] = []

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "keys_in_flight": self.keys_in_flight,
                "ops_per_key": self.ops_per_key}

    def generator(self) -> Generator:
        return gen.fn(self._next)

    def _key(self, ctx: Context) -> _Key:
        while len(self._active) < self.keys_in_flight:
            k = _Key(f"r{len(self.keys)}")
            self.keys.append(k.name)
            self._active.append(k)
        k = ctx.rng.choice(self._active)
        k.issued += 1
        if k.issued >= self.ops_per_key:
            self._active.remove(k)
        return k

    def _next(self, ctx: Context) -> Invocation:
        k = self._key(ctx)
        roll = ctx.rng.random()
        if roll < 0.5:
            consistency = (self.reads[0] if len(self.reads) == 1
                           else ctx.rng.choice(self.reads))
            return Invocation("read", key=k.name, consistency=consistency)
        value = len(k.written) + 1
        k.written.append(value)
        if self.mode == "dynamodb" and roll > 0.8 and len(k.written) > 1:
            expected = ctx.rng.choice(k.written[-4:-1])
            return Invocation("cas", key=k.name, value=[expected, value])
        return Invocation("write", key=k.name, value=value)

    async def invoke(self, client: NodeClient, inv: Invocation) -> Reply:
        if inv.f == "read":
            consistency = inv.consistency if self.mode == "dynamodb" else None
            r = await client.get(inv.key, consistency)
            if r.type == OK and self.mode != "dynamo":
                r.value = read_value(r)
            return r
        if inv.f == "write":
            if self.mode == "dynamo":
                return await read_merge_write(client, inv.key, lambda _: inv.value, inv.value)
            return await client.put(inv.key, inv.value)
        if inv.f == "cas":
            expected, new = inv.value
            r = await client.put(inv.key, new, condition={"equals": expected})
            if r.type == OK:
                r.value = inv.value
            return r
        raise ValueError(f"the register workload has no op {inv.f!r}")

    def final_reads(self) -> list[Invocation]:
        return [Invocation("read", key=k, consistency="eventual") for k in self.keys]

    def checkers(self, params: Mapping[str, Any] | None = None) -> dict[str, Checker]:
        return checks.for_workload("register", self.mode, params)
