"""Replaying a seed with only some of its faults: the shrinker's tool.

:class:`Sieve` wraps the harness's fault :class:`~splitbrain.nemesis.schedule.Schedule` and
lets through only the faults whose ordinal (0 for the first fault the schedule starts, 1 for
the next...) is in ``keep``. A dropped fault is still planned, from the same random stream
and at the same time, so every other fault stays as it was; but it is not performed and
leaves no event in the history. The schedule acts on a :class:`_Gate` in front of the
cluster, which does nothing while a dropped fault is in force (faults of one schedule never
overlap: each is healed before the next starts).
"""

from __future__ import annotations

import random
from typing import Any, Iterable

from splitbrain.harness.interfaces import Link, NemesisRecorder
from splitbrain.nemesis.schedule import Schedule


class _GatedNet:
    """The cluster's network behind the gate."""

    def __init__(self, gate: "_Gate", net: Any):
        self._gate = gate
        self._net = net
        self.kind = net.kind

    @property
    def cuts(self) -> frozenset[Link]:
        return self._net.cuts

    async def cut(self, links: Iterable[Link]) -> None:
        if self._gate.enabled:
            await self._net.cut(links)

    async def heal(self) -> None:
        if self._gate.enabled:
            await self._net.heal()

    async def reset(self, links: Iterable[Link]) -> None:
        if self._gate.enabled:
            await self._net.reset(links)

    async def reject(self, links: Iterable[Link]) -> None:
        if self._gate.enabled:
            await self._net.reject(links)

    async def delay(self, links: Iterable[Link], seconds: float) -> None:
        if self._gate.enabled:
            await self._net.delay(links, seconds)

    async def loss(self, links: Iterable[Link], percent: int) -> None:
        if self._gate.enabled:
            await self._net.loss(links, percent)

    async def close(self) -> None:
        await self._net.close()

    def describe(self) -> dict[str, Any]:
        return self._net.describe()


class _Gate:
    """A cluster (Nodes, Killable, Pausable, ClockControl, Introspectable) whose faults happen
    only while :attr:`enabled` (the targeted kinds read its status either way)."""

    def __init__(self, cluster: Any):
        self._cluster = cluster
        self.names = cluster.names
        self.net = _GatedNet(self, cluster.net)
        self.enabled = True

    def client_url(self, name: str) -> str:
        return self._cluster.client_url(name)

    async def kill(self, name: str) -> None:
        if self.enabled:
            await self._cluster.kill(name)

    async def restart(self, name: str) -> None:
        if self.enabled:
            await self._cluster.restart(name)

    async def is_running(self, name: str) -> bool:
        return await self._cluster.is_running(name)

    async def pause(self, name: str) -> None:
        if self.enabled:
            await self._cluster.pause(name)

    async def resume(self, name: str) -> None:
        if self.enabled:
            await self._cluster.resume(name)

    async def set_clock_offset(self, name: str, seconds: float) -> None:
        if self.enabled:
            await self._cluster.set_clock_offset(name, seconds)

    async def set_clock_rate(self, name: str, rate: float) -> None:
        if self.enabled:
            await self._cluster.set_clock_rate(name, rate)

    async def admin_status(self, name: str) -> dict[str, Any]:
        return await self._cluster.admin_status(name)


class Sieve:
    """``schedule`` with only the faults whose ordinals are in ``keep`` (see the module
    docstring). ``started`` counts the faults the schedule started, kept or not."""

    def __init__(self, schedule: Schedule, keep: Iterable[int]):
        self.schedule = schedule
        self.keep = frozenset(keep)
        self.started = 0
        self._dropping = False
        self._gate: _Gate | None = None

    @property
    def active(self) -> Any:
        return None if self._dropping else self.schedule.active

    async def run(self, cluster: Any, rng: random.Random, record: NemesisRecorder,
                  duration: float) -> None:
        gate = self._gate = _Gate(cluster)
        invokes = 0

        def sift(type_: str, f: str, value: Any) -> Any:
            nonlocal invokes
            if type_ == "invoke":  # a fault's start and its stop: two invokes each
                if invokes % 2 == 0:
                    self.started += 1
                self._dropping = invokes // 2 not in self.keep
                gate.enabled = not self._dropping
                invokes += 1
            return None if self._dropping else record(type_, f, value)

        await self.schedule.run(gate, rng, sift, duration)

    async def heal(self, cluster: Any, record: NemesisRecorder) -> None:
        if self._dropping and self._gate is not None:
            # The fault left in force was never performed: stop it behind the closed gate
            # (which also ends a clock strobe's task), unrecorded.
            for nemesis in self.schedule.nemeses:
                await nemesis.stop(self._gate)
        self._dropping = False
        await self.schedule.heal(cluster, record)
