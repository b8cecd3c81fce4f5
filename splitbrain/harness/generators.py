"""Generators: what operation a worker runs next, when, and for how long (Jepsen's idea).

A generator is asked by a worker thread for its next operation with :meth:`Generator.next`,
passing a :class:`Context` (seconds since the test started, the asking thread, every thread of
the run, a seeded ``random.Random``). It answers with

* an :class:`Invocation`: run this op now;
* a :class:`Wait`: nothing yet, ask again after this many seconds (``everyone``: and every
  other thread asked now would be told the same);
* ``None``: this generator has nothing more for this thread.

After each op completes the run loop calls :meth:`Generator.update` with the invocation and its
outcome (``ok``, ``fail`` or ``info``), which is how :func:`until_ok` and :func:`phases` learn
what happened. Generators never sleep, never touch the clock and draw randomness only from the
context's ``rng``, so a unit test drives them with made-up times and a seed reproduces a run.

The pieces compose: ``time_limit(60, stagger(0.01, mix(reads, writes)))``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Iterable

#: How often a thread that finished a phase asks again while the other threads finish theirs.
PHASE_POLL = 0.01


@dataclass(frozen=True)
class Invocation:
    """One client operation to run. ``node`` pins it to a node (final reads); otherwise the
    worker's own node is used. ``meta`` is recorded in the invoke event."""

    f: str
    key: Any = None
    value: Any = None
    consistency: str | None = None
    node: str | None = None
    meta: dict | None = field(default=None, hash=False, compare=False)


@dataclass(frozen=True)
class Wait:
    """Nothing to do yet: ask again after ``seconds``. ``everyone``: the answer does not
    depend on the asking thread, so any thread asked at this moment would be told to wait
    until the same time, and the run loop may tell the other threads waiting for this
    moment so without asking each (a rate-limited generator's wait between two ops, which
    all idle threads used to be asked for in turn). A generator that passes on a child's
    wait keeps the flag only where its own answer is as independent of the thread."""

    seconds: float
    everyone: bool = False


Answer = Invocation | Wait | None


@dataclass
class Context:
    """What a generator may know when asked. ``time`` is seconds since the test started."""

    time: float
    thread: Hashable
    threads: frozenset
    rng: random.Random


class Generator:
    """Base class: override :meth:`next`; override :meth:`update` to learn outcomes."""

    def next(self, ctx: Context) -> Answer:
        raise NotImplementedError

    def update(self, ctx: Context, inv: Invocation, outcome: str) -> None:
        """Called once per completed op that this generator (or a child) produced."""


def drain(gen: Generator, ctx: Context, *, limit: int = 1_000_000) -> list[Invocation]:
    """Every invocation ``gen`` gives ``ctx.thread`` while time stands still, stopping at the
    first Wait or None (for tests and for finite generators)."""
    out = []
    while len(out) < limit:
        a = gen.next(ctx)
        if not isinstance(a, Invocation):
            break
        out.append(a)
    return out


class _Fn(Generator):
    def __init__(self, f: Callable[[Context], Invocation | None]):
        self.f = f

    def next(self, ctx: Context) -> Answer:
        return self.f(ctx)


def fn(f: Callable[[Context], Invocation | None]) -> Generator:
    """An endless generator calling ``f(ctx)`` for each op (``None`` ends it)."""
    return _Fn(f)


def repeat(inv: Invocation) -> Generator:
    """The same invocation forever."""
    return _Fn(lambda ctx: inv)


class _Once(Generator):
    def __init__(self, inv: Invocation):
        self.inv: Invocation | None = inv

    def next(self, ctx: Context) -> Answer:
        inv, self.inv = self.inv, None
        return inv


def once(inv: Invocation) -> Generator:
    """Emit ``inv`` once in total (to whichever thread asks first), then nothing."""
    return _Once(inv)


class _Limit(Generator):
    def __init__(self, n: int, gen: Generator):
        self.left, self.gen = n, gen

    def next(self, ctx: Context) -> Answer:
        if self.left <= 0:
            return None
        a = self.gen.next(ctx)
        if isinstance(a, Invocation):
            self.left -= 1
        return a

    def update(self, ctx: Context, inv: Invocation, outcome: str) -> None:
        self.gen.update(ctx, inv, outcome)


def limit(n: int, gen: Generator) -> Generator:
    """At most ``n`` invocations of ``gen`` in total."""
    return _Limit(n, gen)


class _Mix(Generator):
    def __init__(self, gens: Iterable[Generator], weights: Iterable[float] | None):
        self.gens = list(gens)
        self.weights = list(weights) if weights is not None else [1.0] * len(self.gens)
        if len(self.weights) != len(self.gens):
            raise ValueError("mix needs one weight per generator")

    def next(self, ctx: Context) -> Answer:
        # One weighted pick; if that child has nothing now, the others are tried in turn.
        if not self.gens:
            return None
        first = ctx.rng.choices(range(len(self.gens)), weights=self.weights)[0]
        order = [first] + [i for i in range(len(self.gens)) if i != first]
        answer: Answer = None
        exhausted = []
        everyone = True
        for i in order:
            a = self.gens[i].next(ctx)
            if isinstance(a, Invocation):
                answer = a
                break
            if a is None:
                exhausted.append(i)
            else:
                everyone = everyone and a.everyone
                if answer is None or a.seconds < answer.seconds:
                    answer = a
        for i in sorted(exhausted, reverse=True):
            del self.gens[i], self.weights[i]
        if isinstance(answer, Wait) and answer.everyone and not everyone:
            return Wait(answer.seconds)  # the shortest wait, but another child's may differ
        return answer

    def update(self, ctx: Context, inv: Invocation, outcome: str) -> None:
        for g in self.gens:
            g.update(ctx, inv, outcome)


def mix(*gens: Generator, weights: Iterable[float] | None = None) -> Generator:
    """A random choice (by ``weights``, default equal) among ``gens`` for each op; exhausted
    when all are."""
    return _Mix(gens, weights)


class _Stagger(Generator):
    def __init__(self, dt: float, gen: Generator):
        if dt <= 0:
            raise ValueError("stagger needs a positive interval")
        self.dt, self.gen = dt, gen
        self.next_at: float | None = None

    def next(self, ctx: Context) -> Answer:
        if self.next_at is not None and ctx.time < self.next_at:
            return Wait(self.next_at - ctx.time, everyone=True)
        a = self.gen.next(ctx)
        if isinstance(a, Invocation):
            # Keep the long-run rate when workers wake late, but never owe more than a second.
            base = ctx.time if self.next_at is None else max(self.next_at, ctx.time - 1.0)
            self.next_at = base + ctx.rng.uniform(0, 2 * self.dt)
        return a

    def update(self, ctx: Context, inv: Invocation, outcome: str) -> None:
        self.gen.update(ctx, inv, outcome)


def stagger(dt: float, gen: Generator) -> Generator:
    """Space ``gen``'s ops (over all threads together) by random gaps uniform in [0, 2*dt]:
    on average one op every ``dt`` seconds."""
    return _Stagger(dt, gen)


def rate(ops_per_second: float, gen: Generator) -> Generator:
    """About ``ops_per_second`` ops per second in total (a :func:`stagger`)."""
    if ops_per_second <= 0:
        raise ValueError("rate needs a positive number of ops per second")
    return _Stagger(1.0 / ops_per_second, gen)


class _TimeLimit(Generator):
    def __init__(self, seconds: float, gen: Generator):
        self.seconds, self.gen = seconds, gen
        self.deadline: float | None = None

    def next(self, ctx: Context) -> Answer:
        if self.deadline is None:
            self.deadline = ctx.time + self.seconds
        if ctx.time >= self.deadline:
            return None
        a = self.gen.next(ctx)
        if isinstance(a, Wait):
            return Wait(min(a.seconds, self.deadline - ctx.time), a.everyone)
        return a

    def update(self, ctx: Context, inv: Invocation, outcome: str) -> None:
        self.gen.update(ctx, inv, outcome)


def time_limit(seconds: float, gen: Generator) -> Generator:
    """``gen`` until ``seconds`` after it is first asked, then nothing."""
    return _TimeLimit(seconds, gen)


def sleep(seconds: float) -> Generator:
    """No ops for ``seconds`` after it is first asked, then exhausted (use inside
    :func:`phases` to let a cluster settle)."""
    return _TimeLimit(seconds, _Idle())


class _Idle(Generator):
    def next(self, ctx: Context) -> Answer:
        return Wait(float("inf"))


class _Phases(Generator):
    def __init__(self, gens: Iterable[Generator]):
        self.gens = list(gens)
        self.done: set = set()

    def next(self, ctx: Context) -> Answer:
        while self.gens:
            if ctx.thread not in self.done:
                a = self.gens[0].next(ctx)
                if isinstance(a, Wait) and a.everyone:  # threads done with it are told another
                    return Wait(a.seconds)
                if a is not None:
                    return a
                self.done.add(ctx.thread)
            if not ctx.threads <= self.done:
                return Wait(PHASE_POLL)
            # Every thread has finished this phase (a thread asking has no op in flight).
            self.gens.pop(0)
            self.done.clear()
        return None

    def update(self, ctx: Context, inv: Invocation, outcome: str) -> None:
        if self.gens:
            self.gens[0].update(ctx, inv, outcome)


def phases(*gens: Generator) -> Generator:
    """Run ``gens`` one after another; a phase starts only when every thread has finished the
    one before (a barrier, as Jepsen's ``phases``)."""
    return _Phases(gens)


class _Seq(Generator):
    def __init__(self, gens: Iterable[Generator]):
        self.gens = list(gens)

    def next(self, ctx: Context) -> Answer:
        while self.gens:
            a = self.gens[0].next(ctx)
            if a is not None:
                return a
            self.gens.pop(0)
        return None

    def update(self, ctx: Context, inv: Invocation, outcome: str) -> None:
        if self.gens:
            self.gens[0].update(ctx, inv, outcome)


def seq(*gens: Generator) -> Generator:
    """``gens`` one after another, without a barrier: the next starts as soon as the one before
    has nothing more for the asking thread (use per thread, inside :func:`each_thread`)."""
    return _Seq(gens)


class _EachThread(Generator):
    def __init__(self, factory: Callable[[Hashable], Generator]):
        self.factory = factory
        self.gens: dict[Hashable, Generator] = {}

    def _gen(self, thread: Hashable) -> Generator:
        if thread not in self.gens:
            self.gens[thread] = self.factory(thread)
        return self.gens[thread]

    def next(self, ctx: Context) -> Answer:
        a = self._gen(ctx.thread).next(ctx)
        if isinstance(a, Wait) and a.everyone:  # true of this thread's generator only
            return Wait(a.seconds)
        return a

    def update(self, ctx: Context, inv: Invocation, outcome: str) -> None:
        self._gen(ctx.thread).update(ctx, inv, outcome)


def each_thread(factory: Callable[[Hashable], Generator]) -> Generator:
    """A separate generator per thread, made by ``factory(thread)`` on its first request."""
    return _EachThread(factory)


class _UntilOk(Generator):
    def __init__(self, gen: Generator):
        self.gen = gen
        self.mine: dict[Hashable, Invocation] = {}
        self.succeeded = False

    def next(self, ctx: Context) -> Answer:
        if self.succeeded:
            return None
        a = self.gen.next(ctx)
        if isinstance(a, Invocation):
            self.mine[ctx.thread] = a
        return a

    def update(self, ctx: Context, inv: Invocation, outcome: str) -> None:
        if self.mine.get(ctx.thread) is inv:
            del self.mine[ctx.thread]
            self.succeeded = self.succeeded or outcome == "ok"
            self.gen.update(ctx, inv, outcome)


def until_ok(gen: Generator) -> Generator:
    """``gen``'s ops until one of them completes ``ok``, then nothing (Jepsen's until-ok)."""
    return _UntilOk(gen)
