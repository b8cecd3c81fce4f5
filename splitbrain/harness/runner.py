"""The run loop: one test against one cluster, phase by phase (DESIGN.md, "The harness").

Phases: start the cluster, wait until every node is healthy, run the workload (one asyncio task
per client thread) and the nemesis (one task) for the time limit, heal everything, let the
cluster recover, wait (bounded) until the replicas of every replicated log have caught up
(:mod:`splitbrain.harness.catchup`), run the final reads on every node, stop the cluster,
check the history.

Every event goes through one :class:`Recorder`, which stamps it with nanoseconds since the test
started (the event loop's monotonic clock: real time on a real loop, virtual time in
:mod:`splitbrain.sim`) and streams it to ``history.jsonl`` as it happens. Jepsen's process rule is
kept: a thread whose op ends in ``info`` retires its process and continues as
``process + threads``; an op that outlives ``op_timeout`` is recorded ``info`` (``fail`` for a
read, which has no effect to be uncertain about), with the meta the op had learnt by then
(:data:`splitbrain.workloads.base.PROGRESS`: the read of a read-modify-write).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncContextManager, Callable, Hashable, Iterable, Mapping

from splitbrain.checkers import policy
from splitbrain.checkers.result import Result
from splitbrain.db.client import FAIL, INFO, OK, NodeClient, Reply
from splitbrain.errors import TesterFailure
from splitbrain.harness import generators as gen
from splitbrain.harness.catchup import wait_caught_up
from splitbrain.harness.display import Stats
from splitbrain.harness.generators import Context, Generator, Invocation, Wait
from splitbrain.harness.interfaces import FaultSchedule, Nodes, RandomSource, seeded
from splitbrain.harness.waits import Waits
from splitbrain.history import NEMESIS, Event, History, HistoryWriter
from splitbrain.workloads import checks
from splitbrain.workloads.base import PROGRESS, Workload


class Recorder:
    """Stamps events with the test's clock, streams them to the history file (when ``writer``
    is given), keeps them in :attr:`events` and counts completions for the display."""

    def __init__(self, writer: HistoryWriter | None, stats: Stats | None = None):
        """Made in the running event loop, whose clock it reads."""
        self.writer = writer
        self.stats = stats or Stats()
        self.events: list[Event] = []
        self._time = asyncio.get_running_loop().time  # not looked up per event: ~20,000 a seed
        self.t0 = self.loop_ns()

    def loop_ns(self) -> int:
        """The event loop's clock in nanoseconds (``time.monotonic`` on asyncio's loops)."""
        return round(self._time() * 1e9)

    def now(self) -> float:
        """Seconds since the test started."""
        return (self.loop_ns() - self.t0) / 1e9

    def record(self, event: Event) -> Event:
        event.time = self.loop_ns() - self.t0
        if event.type != "invoke" and event.process != NEMESIS:
            self.stats.outcomes[event.type] += 1
        if self.writer is not None:
            self.writer.append(event)
        else:  # indexed as the writer would, densely in record order
            event.index = len(self.events)
        self.events.append(event)
        return event

    def nemesis(self, type: str, f: str, value: Any = None) -> None:
        """One nemesis event: ``invoke`` with the plan, ``info`` with what was done."""
        self.record(Event(type, NEMESIS, f, value=value))


@dataclass
class Worker:
    """One client thread: its id, the node it talks to, its current process."""

    thread: Hashable
    node: str
    process: int
    stride: int
    client: Any = None


ClientFactory = Callable[[str, float], Any]


@dataclass
class Runner:
    """Runs one test. ``cluster`` is an async context manager yielding a started cluster
    (a :class:`Nodes`) and stopping it on exit; ``nemesis`` may be None (no faults);
    ``history_path`` None keeps the history in memory only. ``client_factory(url, timeout)``
    makes a client (default :class:`~splitbrain.db.client.NodeClient`); ``on_cluster`` is
    called with the cluster once it has started; ``ops``, when given, caps the workload's
    ops (the time limit still applies); ``random_source`` gives the workload's and the
    nemesis's generators (seeded from ``seed``). Before the final reads it waits at most
    ``catch_up_timeout`` seconds for the replicas to catch up; :attr:`catch_up` then says how
    long it waited and which replicas still lagged."""

    workload: Workload
    cluster: AsyncContextManager
    history_path: Path | None
    concurrency: int = 10
    rate: float | None = 100.0
    time_limit: float = 60.0
    recovery: float = 5.0
    op_timeout: float = 2.0
    healthy_timeout: float = 30.0
    catch_up_timeout: float = 10.0
    seed: int = 0
    nemesis: FaultSchedule | None = None
    client_factory: ClientFactory = NodeClient
    stats: Stats = field(default_factory=Stats)
    on_cluster: Callable[[Any], None] | None = None
    ops: int | None = None
    random_source: RandomSource = seeded

    def __post_init__(self) -> None:
        self.rng = self.random_source("workload", self.seed)
        # Its own stream, so the fault schedule a seed gives does not depend on how the
        # clients' ops happened to interleave.
        self.nemesis_rng = self.random_source("nemesis", f"nemesis-{self.seed}")
        self.recorder: Recorder | None = None
        self._clients: list[Any] = []
        self._next_process = 0
        self._final_ok = 0
        self.catch_up: dict[str, Any] | None = None

    async def run(self) -> History:
        """Run every phase; returns the recorded history. Raises TesterFailure when the cluster
        cannot be started, never becomes healthy, answers no operation at all, or (when the
        workload has final reads) answers none of them."""
        writer = HistoryWriter(self.history_path) if self.history_path is not None else None
        self.recorder = Recorder(writer, self.stats)
        self.stats.nemesis = self.nemesis
        try:
            async with contextlib.AsyncExitStack() as stack:
                self.stats.phase = "starting cluster"
                cluster = await stack.enter_async_context(self.cluster)
                if self.on_cluster is not None:
                    self.on_cluster(cluster)
                stack.push_async_callback(self._close_clients)
                self.stats.phase = "waiting for health"
                await self._wait_healthy(cluster)
                self.recorder.t0 = self.recorder.loop_ns()
                self.stats.started = time.monotonic()
                self.stats.phase = "workload"
                await self._main_phase(cluster)
                self.stats.phase = "healing"
                if self.nemesis is not None:
                    await self.nemesis.heal(cluster, self.recorder.nemesis)
                self.stats.phase = "recovering"
                await asyncio.sleep(self.recovery)
                self.stats.phase = "catching up"
                self.catch_up = await wait_caught_up(
                    {n: self._client(cluster, n) for n in cluster.names}, self.catch_up_timeout)
                self.stats.phase = "final reads"
                await self._final_phase(cluster)
                self.stats.phase = "stopping cluster"
        finally:
            if writer is not None:
                writer.close()
        if self.stats.outcomes[OK] == 0:
            raise TesterFailure("the cluster answered no operation successfully; see the node "
                                "logs in the run directory")
        if self._final_ok == 0 and self.workload.final_reads():
            raise TesterFailure("no node answered a final read after healing, so the cluster "
                                "is dead; see the node logs in the run directory")
        self.stats.phase = "checking"
        return History(self.recorder.events)

    async def _close_clients(self) -> None:
        for c in self._clients:
            with contextlib.suppress(Exception):
                await c.close()
        self._clients.clear()

    def _client(self, cluster: Nodes, node: str) -> Any:
        c = self.client_factory(cluster.client_url(node), self.op_timeout)
        self._clients.append(c)
        return c

    async def _wait_healthy(self, cluster: Nodes) -> None:
        clients = {n: self._client(cluster, n) for n in cluster.names}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.healthy_timeout
        pending = set(clients)
        while pending:
            replies = await asyncio.gather(*(clients[n].health() for n in sorted(pending)))
            pending -= {n for n, r in zip(sorted(pending), replies) if r.type == OK}
            if pending and loop.time() > deadline:
                raise TesterFailure(f"node(s) {', '.join(sorted(pending))} did not become "
                                    f"healthy within {self.healthy_timeout:g} s; see their logs "
                                    f"in the run directory")
            if pending:
                await asyncio.sleep(0.1)

    async def _main_phase(self, cluster: Nodes) -> None:
        names = list(cluster.names)
        g: Generator = self.workload.generator()
        if self.ops is not None:
            g = gen.limit(self.ops, g)
        if self.rate:
            g = gen.rate(self.rate, g)
        g = gen.time_limit(self.time_limit, g)
        workers = [Worker(t, names[t % len(names)], t, self.concurrency,
                          self._client(cluster, names[t % len(names)]))
                   for t in range(self.concurrency)]
        waits = self._waits(g, frozenset(range(self.concurrency)))
        tasks = [asyncio.create_task(self._work(w, g, waits)) for w in workers]
        if self.nemesis is not None:
            tasks.append(asyncio.create_task(self.nemesis.run(
                cluster, self.nemesis_rng, self.recorder.nemesis, self.time_limit)))
        try:
            await _gather_or_cancel(tasks)
        finally:
            waits.close()
        self._next_process = max(w.process for w in workers) + 1

    async def _final_phase(self, cluster: Nodes) -> None:
        names = list(cluster.names)
        base = self._next_process
        workers = [Worker(n, n, base + i, len(names), self._client(cluster, n))
                   for i, n in enumerate(names)]
        g = gen.each_thread(self.workload.final_generator)
        waits = self._waits(g, frozenset(names))
        try:
            await _gather_or_cancel([asyncio.create_task(self._work(w, g, waits))
                                     for w in workers])
        finally:
            waits.close()

    def _waits(self, g: Generator, threads: frozenset) -> Waits:
        rec = self.recorder
        assert rec is not None
        return Waits(g, threads, self.rng, rec.now, rec.t0 / 1e9)

    async def _work(self, w: Worker, g: Generator, waits: Waits) -> None:
        """Ask ``g`` for ops as thread ``w`` and perform them until it is exhausted; told to
        wait, the thread waits in ``waits`` until ``g`` has an op for it."""
        rec = self.recorder
        assert rec is not None
        threads = waits.threads
        while True:
            ctx = Context(rec.now(), w.thread, threads, self.rng)
            a = g.next(ctx)
            if isinstance(a, Wait):
                a = await waits.until_op(w.thread, ctx.time, a)
            if a is None:
                return
            reply = await self._invoke(w, a)
            if reply.type == OK and (a.meta or {}).get("final"):
                self._final_ok += 1
            g.update(Context(rec.now(), w.thread, threads, self.rng), a, reply.type)
            if reply.type == INFO:
                w.process += w.stride

    async def _invoke(self, w: Worker, a: Invocation) -> Reply:
        rec = self.recorder
        assert rec is not None
        node = a.node or w.node
        rec.record(Event("invoke", w.process, a.f, value=a.value, key=a.key, node=node,
                         consistency=a.consistency, meta=a.meta))
        progress: dict[str, Any] = {}
        token = PROGRESS.set(progress)
        try:
            async with asyncio.timeout(self.op_timeout):  # no extra task per op, unlike wait_for
                reply = await self.workload.invoke(w.client, a)
        except TimeoutError:
            reply = Reply(FAIL if a.f == "read" else INFO, error="timeout", meta=progress)
        except Exception as e:  # a bug in a workload: the op's fate is unknown
            reply = Reply(INFO, error="tester-exception",
                          meta={"message": f"{type(e).__name__}: {e}"})
        finally:
            PROGRESS.reset(token)
        rec.record(Event(reply.type, w.process, a.f, value=reply.value, key=a.key, node=node,
                         consistency=a.consistency, error=reply.error, meta=reply.meta or None))
        return reply


async def _gather_or_cancel(tasks: list[asyncio.Task]) -> None:
    """Wait for every task; if one fails (or we are cancelled), cancel the rest, then raise."""
    try:
        await asyncio.gather(*tasks)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def check(history: History, workload: Workload, *, expect: Iterable[str] = (),
          params: Mapping[str, Any] | None = None) -> Result:
    """Run the workload's checkers (one that raises gives ``unknown`` with the reason) and
    judge their results by the mode's verdict policy and the ``expect``ed properties."""
    checkers = checks.with_expectations(workload.checkers(params), workload.name, workload.mode,
                                        expect)
    return policy.verdict(workload.mode, policy.run(checkers, history), expect,
                          workload=workload.name)
