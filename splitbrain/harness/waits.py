"""The client threads a generator told to wait, kept by the run loop until it has an op for them.

Rules of this module:

1. A thread told ``Wait(s)`` at time ``t`` is asked again at ``t + s``, with ``s`` clamped to
   [:data:`MIN_WAIT`, :data:`MAX_WAIT`], and as of that time: the history's clock counts
   whole nanoseconds and asyncio may fire a timer a clock tick early, so the clock can read a
   hair before the end of the wait, and asking with it would be told to wait again, over and
   over, for the remainder.
2. The asking is done here, on the thread's behalf, by one timer at the earliest end of a wait:
   threads whose waits end at the same time are asked in the order they began waiting. A
   thread is resumed only with an op or with the generator's end (None); told to wait again,
   it stays here. (A rate-limited generator tells every idle thread to wait until its next op
   is due, and only one thread gets it: resuming each of them each time was most of a
   simulated run's wake-ups.) Once a thread is told a wait that holds for ``everyone``
   (:class:`~splitbrain.harness.generators.Wait`), the threads after it in this wake-up are
   told to wait until the same time without being asked: asking each of them in turn was
   nine of every ten questions a seed asked its generator.
3. An error raised by the generator is raised in the thread that was being asked for.
4. A thread cancelled while waiting is forgotten; :meth:`Waits.close` forgets them all.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
from typing import Callable, Hashable

from splitbrain.harness.generators import Answer, Context, Generator, Wait

#: The longest a thread waits before its generator is asked again (so phases end promptly).
MAX_WAIT = 0.5
#: The shortest: a shorter wait is a remainder of the clock's rounding (rule 1).
MIN_WAIT = 1e-6


class Waits:
    """The waiting threads of one phase, asking ``g`` with ``threads`` and ``rng`` in their
    contexts; ``now()`` is the history's clock, in seconds since ``t0`` (the event loop's time
    when the history's clock read 0)."""

    def __init__(self, g: Generator, threads: frozenset, rng: random.Random,
                 now: Callable[[], float], t0: float):
        self._g = g
        self.threads = threads
        self._rng = rng
        self._now = now
        self._t0 = t0
        self._heap: list[tuple[float, int, Hashable, asyncio.Future]] = []
        self._seq = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = float("inf")

    async def until_op(self, thread: Hashable, asked_at: float, wait: Wait) -> Answer:
        """Wait as ``thread`` was told at ``asked_at``; the generator's next op for it, or None
        when it is exhausted (rules 1-3)."""
        fut = asyncio.get_running_loop().create_future()
        self._push(thread, asked_at, wait.seconds, fut)
        self._arm()
        return await fut

    def close(self) -> None:
        """Forget every waiting thread and stop the timer (rule 4)."""
        for *_, fut in self._heap:
            fut.cancel()
        self._heap.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer, self._timer_at = None, float("inf")

    def _push(self, thread: Hashable, asked_at: float, seconds: float,
              fut: asyncio.Future) -> None:
        pause = max(min(seconds, MAX_WAIT), MIN_WAIT)
        heapq.heappush(self._heap, (asked_at + pause, next(self._seq), thread, fut))

    def _arm(self) -> None:
        """Have the timer fire at the earliest end of a wait."""
        at = self._heap[0][0] if self._heap else float("inf")
        if at == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = at
        if self._heap:
            self._timer = asyncio.get_running_loop().call_at(self._t0 + at, self._wake)

    def _wake(self) -> None:
        self._timer = None
        due = self._timer_at
        heap = self._heap
        told: float | None = None  # until when a wait for everyone holds (rule 2)
        while heap and heap[0][0] <= due:
            at, _, thread, fut = heapq.heappop(heap)
            if fut.done():
                continue  # its thread was cancelled
            now = max(self._now(), at)
            if told is not None:
                self._push(thread, now, told - now, fut)
                continue
            ctx = Context(now, thread, self.threads, self._rng)
            try:
                a = self._g.next(ctx)
            except Exception as e:
                fut.set_exception(e)
                continue
            if isinstance(a, Wait):
                self._push(thread, now, a.seconds, fut)  # ends after ``due``: MIN_WAIT on
                if a.everyone:
                    told = now + a.seconds
            else:
                fut.set_result(a)
        self._timer_at = float("inf")
        self._arm()
