"""A workload that plays a recorded op sequence instead of drawing one (``--replay``).

:class:`Played` is the generator: each client thread gets the recorded ops of its processes
(``process % concurrency``), in order, each no earlier than its recorded time (a
:class:`~splitbrain.harness.generators.Wait` until then) and once the thread's previous op
has completed (the run loop asks only then); a thread whose ops are done is exhausted.
:class:`Replayed` wraps the workload that recorded the ops: it runs and judges them as that
workload does, and its final reads are the recorded ones.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Iterable, Mapping

from splitbrain.db.client import NodeClient, Reply
from splitbrain.harness.generators import Answer, Context, Generator, Invocation, Wait
from splitbrain.workloads.base import Checker, Workload


class Played(Generator):
    """The recorded ``ops`` (each with ``process``, ``f``, ``key``, ``value``,
    ``consistency`` and ``time`` in seconds, like :class:`splitbrain.replay.Op`), handed to
    thread ``process % concurrency`` in order, not before their time."""

    def __init__(self, ops: Iterable[Any], concurrency: int):
        self.queues: dict[int, deque] = {}
        for op in ops:
            self.queues.setdefault(op.process % concurrency, deque()).append(op)

    def next(self, ctx: Context) -> Answer:
        queue = self.queues.get(ctx.thread)  # type: ignore[call-overload]
        if not queue:
            return None
        op = queue[0]
        if op.time > ctx.time:
            return Wait(op.time - ctx.time)
        queue.popleft()
        return Invocation(op.f, key=op.key, value=op.value, consistency=op.consistency)


class Replayed(Workload):
    """``inner`` (the workload that recorded the run) playing ``ops`` on ``concurrency``
    threads, with ``final_reads`` (each with ``f``, ``key`` and ``consistency``) after
    healing."""

    def __init__(self, inner: Workload, ops: Iterable[Any], final_reads: Iterable[Any],
                 concurrency: int):
        super().__init__(inner.mode, reads=inner.reads)
        self.inner = inner
        self.name = inner.name  # type: ignore[misc]  # judged as the workload it replays
        self.ops = list(ops)
        self.finals = [Invocation(r.f, key=r.key, consistency=r.consistency)
                       for r in final_reads]
        self.concurrency = concurrency

    def generator(self) -> Generator:
        return Played(self.ops, self.concurrency)

    async def invoke(self, client: NodeClient, inv: Invocation) -> Reply:
        return await self.inner.invoke(client, inv)

    def final_reads(self) -> list[Invocation]:
        return list(self.finals)

    def checkers(self, params: Mapping[str, Any] | None = None) -> dict[str, Checker]:
        return self.inner.checkers(params)

    def describe(self) -> dict[str, Any]:
        return {**self.inner.describe(), "replayed_ops": len(self.ops)}
