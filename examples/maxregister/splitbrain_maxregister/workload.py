"""A max register built on a dynamodb-mode cluster: a write reads the value strongly and
replaces it with a conditional put when the new value is larger; reads are strong. The
workload interface (splitbrain.workloads.base) is provisional: it follows the harness."""

from __future__ import annotations

from typing import Any, Mapping

from splitbrain import check
from splitbrain.db.client import FAIL, INFO, OK, NodeClient, Reply
from splitbrain.errors import BadInput
from splitbrain.harness import generators as gen
from splitbrain.harness.generators import Context, Generator, Invocation
from splitbrain.workloads.base import Checker, Workload, read_value

from splitbrain_maxregister.model import MaxRegister

KEY = "max0"
#: Conditional puts a write tries before it gives up (each lost race means another write won).
ATTEMPTS = 5


class MaxRegisterWorkload(Workload):
    """Writes of random values 1..1000 and strong reads of one key, checked for
    linearizability against :class:`MaxRegister`."""

    name = "max-register"

    def __init__(self, mode: str):
        if mode != "dynamodb":
            raise BadInput(f"the max-register workload needs conditional writes, which mode "
                           f"{mode} lacks; use --mode dynamodb")
        super().__init__(mode)

    def generator(self) -> Generator:
        return gen.fn(self._next)

    def _next(self, ctx: Context) -> Invocation:
        if ctx.rng.random() < 0.5:
            return Invocation("read", key=KEY, consistency="strong")
        return Invocation("write", key=KEY, value=ctx.rng.randint(1, 1000))

    async def invoke(self, client: NodeClient, inv: Invocation) -> Reply:
        if inv.f == "read":
            r = await client.get(inv.key, "strong")
            if r.type == OK:
                r.value = read_value(r) or 0
            return r
        for _ in range(ATTEMPTS):
            read = await client.get(inv.key, "strong")
            if read.type != OK:  # nothing was written yet
                return Reply(FAIL, error=read.error)
            current = read_value(read)
            if current is not None and current >= inv.value:
                return Reply(OK, value=inv.value)  # the max already covers it
            condition = {"absent": True} if current is None else {"equals": current}
            put = await client.put(inv.key, inv.value, condition=condition)
            if put.type == OK or put.type == INFO or put.error != "condition-failed":
                return put
        return Reply(FAIL, error="too-many-races")

    def final_reads(self) -> list[Invocation]:
        return [Invocation("read", key=KEY, consistency="strong")]

    def checkers(self, params: Mapping[str, Any] | None = None) -> dict[str, Checker]:
        return {"linearizable": lambda history: check(history, MaxRegister(),
                                                      consistency="strong", time_limit=60)}
