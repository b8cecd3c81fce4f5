"""When faults happen: the combined schedule of ``--nemesis partition,kill --nemesis-interval
10``, and the final heal.

:func:`combined` returns a :class:`Schedule`; the run loop runs ``schedule.run(cluster, rng,
record, duration)`` as its nemesis task. It waits ``interval`` seconds, starts a fault of the
next kind, waits ``length`` seconds (``interval`` unless given), heals it, and repeats until
``duration`` has passed. Kinds come in rounds: each round is every chosen kind once, in a
shuffled order, so a run of ``2 * k`` intervals meets every one of ``k`` kinds. With ``overlap`` each period starts the next *two*
kinds of the rounds together (clock skew during a partition, a kill during latency), as
Jepsen's combined nemesis lets faults of different kinds coincide; they are healed together.
Every op is reported to ``record(type, f, value)`` twice: ``"invoke"`` before it is done
(value: the plan) and ``"info"`` after (value: what was done), as Jepsen records its nemesis.
When the time is up, or the task is cancelled, the active fault is left for
:func:`heal_all`, which the run loop calls in its final phase (and records the same way).
:class:`Played` is the same contract for a recorded schedule (``--replay``): it plays a list
of faults at their recorded times instead of drawing them.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import random
from typing import Any, Iterable

from splitbrain.errors import BadInput, TesterFailure
from splitbrain.harness.interfaces import ClockControl, Killable
from splitbrain.harness.interfaces import NemesisRecorder as Recorder
from splitbrain.harness.interfaces import Nodes as Cluster
from splitbrain.harness.interfaces import NodeUnreachable, Pausable
from splitbrain.nemesis.faults import KINDS, Nemesis, Op


async def _record(record: Recorder, type_: str, op: Op) -> None:
    result = record(type_, op["f"], op["value"])
    if inspect.isawaitable(result):
        await result


def parse_kinds(spec: str | Iterable[str]) -> list[str]:
    """``"partition,kill"`` -> ``["partition", "kill"]``; ``""`` or ``"none"`` -> ``[]``.
    Raises :class:`BadInput` naming an unknown kind."""
    kinds = [k.strip() for k in spec.split(",")] if isinstance(spec, str) else list(spec)
    kinds = [k for k in kinds if k and k != "none"]
    for k in kinds:
        if k not in KINDS:
            raise BadInput(f"unknown nemesis {k!r}; use a comma-separated list of "
                           f"{', '.join(KINDS)} (or none)")
    return kinds


class Schedule:
    """Start a fault of the next kind (two kinds with ``overlap``) ``interval`` seconds after
    the last one healed, heal it ``length`` seconds later (``interval`` when None). ``active``
    lists the faults currently in force (for the live display)."""

    def __init__(self, kinds: Iterable[str], interval: float, *, overlap: bool = False,
                 length: float | None = None):
        self.kinds = parse_kinds(kinds)
        if interval <= 0:
            raise BadInput(f"--nemesis-interval must be positive, not {interval:g}")
        self.interval = interval
        self.length = interval if length is None else length
        self.overlap = overlap
        self.nemeses: list[Nemesis] = [KINDS[k]() for k in dict.fromkeys(self.kinds)]
        self.active: list[Op] = []
        self._round: list[Nemesis] = []

    def _next(self, rng: random.Random) -> list[Nemesis]:
        """The kinds of the next period: the next of the current round (a shuffled list of
        every kind), and with ``overlap`` the one after it, never the same kind twice."""
        want = 2 if self.overlap and len(self.nemeses) > 1 else 1
        chosen: list[Nemesis] = []
        while len(chosen) < want:
            if not self._round:
                self._round = rng.sample(self.nemeses, len(self.nemeses))
                if chosen and self._round[0] is chosen[0]:
                    self._round.append(self._round.pop(0))
            chosen.append(self._round.pop(0))
        return chosen

    def check(self, cluster: Cluster) -> None:
        """Refuse (BadInput, one sentence) a cluster that lacks what one of the kinds needs;
        called before the cluster starts, and again by :meth:`run`."""
        for nemesis in self.nemeses:
            nemesis.check(cluster)

    async def run(self, cluster: Cluster, rng: random.Random, record: Recorder,
                  duration: float) -> None:
        self.check(cluster)
        if not self.nemeses:
            return
        deadline = _now() + duration
        while True:
            if not await _sleep_until(min(deadline, _now() + self.interval), deadline):
                return
            started = self._next(rng)
            for nemesis in started:
                op = nemesis.plan(cluster.names, rng)
                await _record(record, "invoke", op)
                self.active.append(op)
                await _record(record, "info", await nemesis.perform(cluster, op))
            if not await _sleep_until(min(deadline, _now() + self.length), deadline):
                return
            for nemesis in reversed(started):
                stop = nemesis.stopping()
                assert stop is not None
                await _record(record, "invoke", stop)
                await _record(record, "info", await nemesis.stop(cluster))
            self.active = []

    async def heal(self, cluster: Cluster, record: Recorder) -> None:
        """The final phase: :func:`heal_final`."""
        await heal_final(self.nemeses, cluster, record)
        self.active = []


async def heal_final(nemeses: Iterable[Nemesis], cluster: Cluster, record: Recorder) -> None:
    """A schedule's final phase: stop whatever fault of ``nemeses`` is still active, then
    :func:`heal_all`; each op recorded as the schedule records its own."""
    for nemesis in nemeses:
        stop = nemesis.stopping()
        if stop is not None:
            await _record(record, "invoke", stop)
            await _record(record, "info", await nemesis.stop(cluster))
    op = {"f": "heal", "value": {}}
    await _record(record, "invoke", op)
    await _record(record, "info", await heal_all(cluster))


def _now() -> float:
    """The event loop's clock: ``time.monotonic`` on a real loop, virtual time in
    :mod:`splitbrain.sim`."""
    return asyncio.get_running_loop().time()


async def _sleep_until(t: float, deadline: float) -> bool:
    """Sleep until loop time ``t``; False if that reached the deadline."""
    await asyncio.sleep(max(0.0, t - _now()))
    return _now() < deadline


def combined(kinds: str | Iterable[str], interval: float, *, overlap: bool = False,
             length: float | None = None) -> Schedule:
    """The schedule for ``--nemesis KINDS --nemesis-interval SECONDS [--nemesis-overlap]``,
    each fault lasting ``length`` seconds (``interval`` when None)."""
    return Schedule(parse_kinds(kinds), interval, overlap=overlap, length=length)


async def heal_all(cluster: Cluster) -> Op:
    """Heal everything the cluster can heal, whatever caused it: heal the network, resume
    every node (when it is :class:`Pausable`), restart every node that is not running (when
    :class:`Killable`), reset every clock offset to 0 (when it has :class:`ClockControl`).
    Returns the op ``{"f": "heal", "value": {...}}`` (with ``failed`` for nodes it could not
    bring back)."""
    await cluster.net.heal()
    restarted: list[str] = []
    failed: dict[str, str] = {}
    if isinstance(cluster, Pausable):
        for name in cluster.names:
            await cluster.resume(name)
    for name in cluster.names if isinstance(cluster, Killable) else ():
        if not await cluster.is_running(name):
            try:
                await cluster.restart(name)
                restarted.append(name)
            except TesterFailure as e:
                failed[name] = str(e)
    for name in cluster.names if isinstance(cluster, ClockControl) else ():
        if name not in failed:
            try:
                await cluster.set_clock_offset(name, 0.0)
            except NodeUnreachable as e:
                failed[name] = str(e)
    value: dict[str, Any] = {"restarted": restarted}
    if failed:
        value["failed"] = failed
    return {"f": "heal", "value": value}


class Played:
    """A fault schedule that plays a recorded list instead of drawing: each fault (a
    :class:`splitbrain.replay.Fault`) starts at its ``start`` and stops ``duration`` later,
    seconds after :meth:`run` began, through its kind's nemesis; recorded as
    :class:`Schedule` records its own. Faults still in force when ``duration`` (the run's)
    ends are left to :meth:`heal`."""

    def __init__(self, faults: Iterable[Any]):
        self.faults = list(faults)
        kinds = list(dict.fromkeys(f.kind for f in self.faults))
        self.nemeses: dict[str, Nemesis] = {k: KINDS[k]() for k in parse_kinds(kinds)}
        self.active: list[Op] = []

    def check(self, cluster: Cluster) -> None:
        """As :meth:`Schedule.check`."""
        for nemesis in self.nemeses.values():
            nemesis.check(cluster)

    async def run(self, cluster: Cluster, rng: random.Random, record: Recorder,
                  duration: float) -> None:
        self.check(cluster)
        began = _now()
        # At one instant: a fault's start before its own stop, an earlier fault's stop first.
        steps = sorted([(f.start, 2 * i, i, True) for i, f in enumerate(self.faults)]
                       + [(f.start + f.duration, 2 * i + 1, i, False)
                          for i, f in enumerate(self.faults)])
        for at, _, i, starting in steps:
            if at >= duration:
                return
            await asyncio.sleep(max(0.0, began + at - _now()))
            fault = self.faults[i]
            nemesis = self.nemeses[fault.kind]
            if starting:
                op = {"f": fault.f, "value": copy.deepcopy(fault.value)}
                await _record(record, "invoke", op)
                self.active.append(op)
                await _record(record, "info", await nemesis.perform(cluster, op))
            else:
                stop = nemesis.stopping()
                assert stop is not None
                self.active = [op for op in self.active if op is not nemesis.active]
                await _record(record, "invoke", stop)
                await _record(record, "info", await nemesis.stop(cluster))

    async def heal(self, cluster: Cluster, record: Recorder) -> None:
        """The final phase: :func:`heal_final`."""
        await heal_final(self.nemeses.values(), cluster, record)
        self.active = []
