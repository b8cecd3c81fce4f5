"""Generators are pure: driven here with made-up times and seeds, no cluster, no sleeping."""

from __future__ import annotations

import itertools
import random

import pytest

from splitbrain.harness import generators as g
from splitbrain.harness.generators import Context, Invocation, Wait


def ctx(time: float = 0.0, thread=0, threads=(0,), seed: int = 1) -> Context:
    return Context(time=time, thread=thread, threads=frozenset(threads), rng=random.Random(seed))


def counter(f: str = "write") -> g.Generator:
    n = itertools.count()
    return g.fn(lambda c: Invocation(f, value=next(n)))


def test_limit_and_once():
    assert [i.value for i in g.drain(g.limit(3, counter()), ctx())] == [0, 1, 2]
    once = g.once(Invocation("read"))
    assert once.next(ctx(thread=0)) == Invocation("read")
    assert once.next(ctx(thread=1)) is None


def test_mix_respects_weights_and_drops_exhausted_children():
    c = ctx(seed=7)
    gen = g.mix(g.repeat(Invocation("read")), g.repeat(Invocation("write")), weights=[3, 1])
    fs = [gen.next(c).f for _ in range(4000)]
    assert 0.7 < fs.count("read") / len(fs) < 0.8
    gen = g.mix(g.limit(2, g.repeat(Invocation("a"))), g.limit(3, g.repeat(Invocation("b"))))
    assert sorted(i.f for i in g.drain(gen, ctx())) == ["a", "a", "b", "b", "b"]
    assert gen.next(ctx()) is None


def test_mix_waits_for_the_soonest_child_when_none_is_ready():
    gen = g.mix(g.stagger(1.0, counter()), g.sleep(5))
    first = gen.next(ctx(time=0.0))
    assert isinstance(first, Invocation)
    later = gen.next(ctx(time=0.0))
    assert isinstance(later, Wait) and later.seconds <= 2.0


def test_stagger_holds_the_average_rate_across_threads():
    gen = g.rate(100, counter())
    rng, t, ops = random.Random(3), 0.0, 0
    while t < 10.0:
        a = gen.next(Context(t, ops % 4, frozenset(range(4)), rng))
        if isinstance(a, Wait):
            t += a.seconds
        else:
            ops += 1
    assert 900 <= ops <= 1100


def test_time_limit_ends_and_clips_waits():
    gen = g.time_limit(2.0, g.stagger(10.0, counter()))
    assert isinstance(gen.next(ctx(time=5.0)), Invocation)   # the limit starts when first asked
    w = gen.next(ctx(time=6.0))
    assert isinstance(w, Wait) and w.seconds <= 1.0
    assert gen.next(ctx(time=7.0)) is None


def test_sleep_yields_no_op_then_ends():
    gen = g.sleep(3)
    assert isinstance(gen.next(ctx(time=1.0)), Wait)
    assert gen.next(ctx(time=3.9)).seconds == pytest.approx(0.1)
    assert gen.next(ctx(time=4.0)) is None


def test_phases_are_a_barrier_between_threads():
    threads = (0, 1)
    gen = g.phases(g.limit(1, g.repeat(Invocation("first"))), g.repeat(Invocation("second")))
    assert gen.next(ctx(thread=0, threads=threads)).f == "first"
    # Thread 1 finds phase one exhausted but must wait for thread 0, whose op is in flight.
    assert isinstance(gen.next(ctx(thread=1, threads=threads)), Wait)
    assert isinstance(gen.next(ctx(thread=1, threads=threads)), Wait)
    # Thread 0 returns: phase one is over for everyone, so phase two begins.
    assert gen.next(ctx(thread=0, threads=threads)).f == "second"
    assert gen.next(ctx(thread=1, threads=threads)).f == "second"


def test_each_thread_gives_every_thread_its_own_copy():
    gen = g.each_thread(lambda t: g.limit(2, g.repeat(Invocation("read", key=t))))
    assert [i.key for i in g.drain(gen, ctx(thread="a"))] == ["a", "a"]
    assert [i.key for i in g.drain(gen, ctx(thread="b"))] == ["b", "b"]


def test_until_ok_retries_until_one_of_its_ops_succeeds():
    gen = g.until_ok(g.repeat(Invocation("read")))
    c = ctx()
    for outcome in ("fail", "info"):
        inv = gen.next(c)
        gen.update(c, inv, outcome)
    inv = gen.next(c)
    gen.update(c, Invocation("read"), "ok")  # an equal op it did not emit does not count
    assert gen.next(c) is not None
    gen.update(c, gen.next(c), "ok")
    assert gen.next(c) is None


def test_phases_forward_outcomes_to_the_current_phase():
    gen = g.phases(g.until_ok(g.repeat(Invocation("read"))), g.once(Invocation("done")))
    c = ctx()
    inv = gen.next(c)
    gen.update(c, inv, "ok")
    assert gen.next(c) == Invocation("done")
    assert gen.next(c) is None


def test_same_seed_same_ops():
    def run(seed):
        gen = g.mix(counter("a"), counter("b"))
        c = ctx(seed=seed)
        return [(i.f, i.value) for i in (gen.next(c) for _ in range(50))]

    assert run(5) == run(5)
    assert run(5) != run(6)


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError):
        g.rate(0, counter())
    with pytest.raises(ValueError):
        g.mix(counter(), weights=[1, 2])


def test_seq_runs_generators_back_to_back_and_final_reads_retry():
    inv_a, inv_b = Invocation("read", key="a"), Invocation("read", key="b")
    gen = g.seq(g.limit(3, g.until_ok(g.repeat(inv_a))), g.once(inv_b))
    c = ctx()
    first = gen.next(c)
    gen.update(c, first, "fail")
    second = gen.next(c)
    assert second is inv_a
    gen.update(c, second, "ok")
    assert gen.next(c) is inv_b
    assert gen.next(c) is None


def test_a_wait_holds_for_everyone_only_where_no_thread_could_be_told_otherwise():
    def waits(gen: g.Generator, time: float = 0.0) -> Wait:
        a = gen.next(ctx(time=time))
        assert isinstance(a, Wait), a
        return a

    def started(gen: g.Generator) -> g.Generator:
        assert isinstance(gen.next(ctx()), Invocation)  # the first op sets the next one's time
        return gen

    # between two ops of a rate, no thread gets one; a time limit keeps that
    assert waits(started(g.rate(1, counter())), 0.1).everyone
    assert waits(started(g.time_limit(5, g.rate(1, counter()))), 0.1).everyone
    # a thread's own generator, a thread's phase and a plain wait say nothing of the others
    assert not waits(started(g.each_thread(lambda t: g.rate(1, counter()))), 0.1).everyone
    assert not waits(started(g.phases(g.rate(1, counter()))), 0.1).everyone
    assert not waits(g.sleep(5)).everyone
    # a mix: only when every child's wait holds for everyone
    both = started(g.mix(g.rate(1, counter()), g.rate(1, counter())))
    assert isinstance(both.next(ctx()), Invocation)  # each child has given its first op
    assert waits(both, 0.1).everyone
    assert not waits(started(g.mix(g.rate(1, counter()), g.sleep(5))), 0.1).everyone
