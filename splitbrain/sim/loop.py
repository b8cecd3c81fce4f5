"""An asyncio event loop on virtual time.

Rules of this module:

1. ``time()`` is virtual: it starts at 0 and moves only when the loop has nothing ready to
   run, straight to the deadline of the earliest timer. Nothing waits for real time.
2. There is no I/O: the loop's "selector" never blocks and never reports an event. Code run
   on this loop must reach the world through simulated doubles only (sockets, subprocesses
   and threads are refused by asyncio's base loop, which does not implement them).
3. Order is deterministic: ready callbacks run first in, first out, and timers with the same
   deadline run in the order they were scheduled (asyncio's own heap breaks such ties in an
   order that is repeatable but not first-in first-out, which would reorder a link's
   messages sent at one instant).
4. A loop with nothing ready and no timer can never make progress: that is a
   :class:`Deadlock`, raised rather than hanging. A run that passes ``limit`` seconds of
   virtual time raises :class:`TimeLimit`.
"""

from __future__ import annotations

import asyncio
import asyncio.base_events
import heapq
import itertools
from typing import Any, Awaitable, Callable, TypeVar

T = TypeVar("T")


class Deadlock(RuntimeError):
    """The simulated world has nothing left to run and the main coroutine has not finished."""


class TimeLimit(RuntimeError):
    """The simulated run went past its virtual-time limit."""


class _Timer(asyncio.TimerHandle):
    """A timer ordered by deadline, then by when it was scheduled (rule 3)."""

    __slots__ = ("_seq",)

    def __init__(self, seq: int, *args: Any):
        super().__init__(*args)
        self._seq = seq

    def __lt__(self, other: object) -> bool:
        if isinstance(other, _Timer):
            return (self._when, self._seq) < (other._when, other._seq)
        return super().__lt__(other)


class _VirtualSelector:
    """The loop's selector: instead of waiting ``timeout`` seconds for I/O, move the virtual
    clock to the earliest timer's deadline."""

    def __init__(self, loop: "VirtualLoop"):
        self._loop = loop

    def select(self, timeout: float | None) -> list:
        loop = self._loop
        if timeout is None:
            raise Deadlock(f"the simulation is stuck at t={loop.time():.6f} s: no callback is "
                           f"ready and no timer is pending")
        if timeout > 0:
            # Jump exactly to the deadline (adding timeout could round just short of it).
            loop.advance_to(loop._scheduled[0]._when)
        return []

    def close(self) -> None:
        pass


class VirtualLoop(asyncio.base_events.BaseEventLoop):
    """An event loop whose :meth:`time` is virtual (see the module's rules)."""

    def __init__(self, limit: float = float("inf")):
        super().__init__()
        self._now = 0.0
        self._limit = limit
        self._selector = _VirtualSelector(self)
        # Timers due up to this far past now run in the same iteration; must be > 0 because
        # the base loop runs timers strictly before ``time() + resolution``.
        self._clock_resolution = 1e-9
        self._seq = itertools.count()

    def time(self) -> float:
        return self._now

    def advance_to(self, when: float) -> None:
        """Move the virtual clock forward to ``when`` (never backward)."""
        if when > self._limit:
            raise TimeLimit(f"the simulation passed its limit of {self._limit:g} s of virtual "
                            f"time")
        self._now = max(self._now, when)

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any,
                context: Any = None) -> asyncio.TimerHandle:
        self._check_closed()
        timer = _Timer(next(self._seq), when, callback, args, self, context)
        heapq.heappush(self._scheduled, timer)
        timer._scheduled = True
        return timer

    def _process_events(self, event_list: list) -> None:
        pass

    def _write_to_self(self) -> None:
        pass

    def _make_self_pipe(self) -> None:
        pass


def run(main: Awaitable[T], *, limit: float = float("inf")) -> T:
    """Run ``main`` to completion on a fresh :class:`VirtualLoop` and close it; the virtual
    clock may not pass ``limit`` seconds."""
    with asyncio.Runner(loop_factory=lambda: VirtualLoop(limit)) as runner:
        return runner.run(_wrap(main))


async def _wrap(main: Awaitable[Any]) -> Any:
    return await main
