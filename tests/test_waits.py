"""The waiting room of the run loop's threads (splitbrain/harness/waits.py), on virtual time."""

from __future__ import annotations

import asyncio
import random

import pytest

from splitbrain.harness.generators import Context, Generator, Invocation, Wait
from splitbrain.harness.waits import MAX_WAIT, Waits
from splitbrain.sim import loop


class OneOpAt(Generator):
    """One op, at ``at`` seconds, for whichever thread asks first; then exhausted. Records
    every ask as (time, thread)."""

    def __init__(self, at: float):
        self.at = at
        self.given = False
        self.asks: list[tuple[float, object]] = []

    def next(self, ctx: Context):
        self.asks.append((round(ctx.time, 9), ctx.thread))
        if self.given:
            return None
        if ctx.time < self.at:
            return Wait(self.at - ctx.time)
        self.given = True
        return Invocation("read", key=0)


def _run(g: Generator, threads: list[str], waits_for: dict[str, float] | None = None):
    """Each thread asks ``g`` at time 0 and waits in one :class:`Waits`; returns what each got
    and when (virtual seconds)."""
    got: dict[str, tuple[float, object]] = {}

    async def thread(waits: Waits, name: str) -> None:
        lp = asyncio.get_running_loop()
        a = g.next(Context(lp.time(), name, waits.threads, waits._rng))
        while isinstance(a, Wait):
            a = await waits.until_op(name, lp.time(), a)
        got[name] = (round(lp.time(), 9), a)

    async def go() -> None:
        lp = asyncio.get_running_loop()
        waits = Waits(g, frozenset(threads), random.Random(1), lp.time, 0.0)
        try:
            await asyncio.gather(*(thread(waits, n) for n in threads))
        finally:
            waits.close()

    loop.run(go())
    return got


def test_waiting_threads_are_asked_in_the_order_they_began_waiting_and_resumed_with_the_op():
    g = OneOpAt(1.2)
    got = _run(g, ["a", "b", "c"])
    # Asked at 0, then every MAX_WAIT, then at the op's time: a first each time, as it waited
    # first; a gets the op, b and c the end, all at 1.2 s.
    times = sorted({t for t, _ in g.asks})
    assert times == [0.0, MAX_WAIT, 2 * MAX_WAIT, 1.2]
    assert [th for t, th in g.asks if t == MAX_WAIT] == ["a", "b", "c"]
    assert got["a"][0] == 1.2 and isinstance(got["a"][1], Invocation)
    assert got["b"] == (1.2, None) and got["c"] == (1.2, None)


def test_an_error_of_the_generator_is_raised_in_the_thread_asked_for():
    class Broken(Generator):
        def next(self, ctx: Context):
            if ctx.time > 0:
                raise RuntimeError(f"broken for {ctx.thread}")
            return Wait(0.1)

    with pytest.raises(RuntimeError, match="broken for a"):
        _run(Broken(), ["a"])


def test_a_cancelled_thread_is_never_asked_for_again():
    g = OneOpAt(1.0)

    async def go() -> None:
        lp = asyncio.get_running_loop()
        waits = Waits(g, frozenset({"a", "b"}), random.Random(1), lp.time, 0.0)
        a = asyncio.ensure_future(waits.until_op("a", 0.0, Wait(1.0)))
        b = asyncio.ensure_future(waits.until_op("b", 0.0, Wait(1.0)))
        await asyncio.sleep(0.25)
        a.cancel()
        assert isinstance(await b, Invocation)
        waits.close()

    loop.run(go())
    assert g.asks == [(0.5, "b"), (1.0, "b")]


def test_threads_after_one_told_a_wait_for_everyone_are_told_it_unasked():
    class Counted(Generator):
        """``inner``, counting the questions."""

        def __init__(self, inner: Generator):
            self.inner, self.asks = inner, 0

        def next(self, ctx: Context):
            self.asks += 1
            return self.inner.next(ctx)

    def run(everyone: bool) -> tuple[int, list[float]]:
        """Ten threads, ops every 0.1 s (the answers' ``everyone`` as given) for 1 s: the
        questions asked and when the ops were handed out."""
        times: list[float] = []

        class Ticks(Generator):
            def __init__(self) -> None:
                self.next_at = 0.0

            def next(self, ctx: Context):
                if ctx.time >= 0.95:
                    return None
                if ctx.time < self.next_at - 1e-9:
                    return Wait(self.next_at - ctx.time, everyone)
                times.append(round(ctx.time, 6))
                self.next_at += 0.1
                return Invocation("read", key=0)

        counted = Counted(Ticks())
        names = [f"t{i}" for i in range(10)]

        async def thread(waits: Waits, name: str) -> None:
            lp = asyncio.get_running_loop()
            while True:
                a = counted.next(Context(lp.time(), name, waits.threads, waits._rng))
                while isinstance(a, Wait):
                    a = await waits.until_op(name, lp.time(), a)
                if a is None:
                    return
                await asyncio.sleep(0.001)  # the op

        async def go() -> None:
            lp = asyncio.get_running_loop()
            waits = Waits(counted, frozenset(names), random.Random(1), lp.time, 0.0)
            try:
                await asyncio.gather(*(thread(waits, n) for n in names))
            finally:
                waits.close()

        loop.run(go())
        return counted.asks, times

    asked, told = run(everyone=False), run(everyone=True)
    assert told[1] == asked[1] == [round(0.1 * i, 6) for i in range(10)]
    # every idle thread is asked at each op's time; with the flag, two per op (the one that
    # gets it and the one told to wait), and each thread once at the start, after its op and
    # at the end
    assert asked[0] > 100 and told[0] <= 50, (asked[0], told[0])
