"""Dotted version vectors and LWW versions (splitbrain/db/versions.py).

States are produced by simulating clients and replicas (reads, puts with or without a context,
anti-entropy between replicas) while keeping the ground truth of causality explicitly as sets,
so the properties are checked against what really happened, not against the implementation.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from splitbrain.db import versions as v

REPLICAS = ["a", "b", "c"]

op = st.one_of(
    st.tuples(st.just("read"), st.sampled_from(REPLICAS)),
    st.tuples(st.just("put"), st.sampled_from(REPLICAS), st.integers(0, 50)),
    st.tuples(st.just("sync"), st.sampled_from(REPLICAS), st.sampled_from(REPLICAS)),
)


class Simulation:
    """Replicas holding DVV states; clients reading and writing through them. ``past[dot]`` is
    the true causal past of each write (the dots its writer had seen)."""

    def __init__(self) -> None:
        self.states: dict[str, v.State] = {r: [] for r in REPLICAS}
        self.reads: list[tuple[v.State, v.Context]] = [([], v.Context())]
        self.past: dict[tuple, frozenset] = {}
        self.seen_states: list[v.State] = [[]]

    def dots(self, state: v.State) -> set[tuple]:
        return {(s[v.NODE], s[v.COUNTER]) for s in state}

    def closure(self, state: v.State) -> set[tuple]:
        out = set()
        for dot in self.dots(state):
            out |= {dot} | self.past[dot]
        return out

    def run(self, ops: list) -> None:
        for o in ops:
            if o[0] == "read":
                state = self.states[o[1]]
                self.reads.append((state, v.dvv_context(state)))
            elif o[0] == "put":
                read_state, ctx = self.reads[o[2] % len(self.reads)]
                replica = o[1]
                new, wctx = v.dvv_write(self.states[replica], f"w{len(self.past)}", ctx, replica)
                (dot,) = self.dots(new) - self.dots(self.states[replica]) - set(self.past)
                self.past[dot] = frozenset(self.closure(read_state))
                self.states[replica] = new
                assert wctx.covers(*dot)
            else:
                self.states[o[2]] = v.dvv_merge(self.states[o[2]], self.states[o[1]])
            self.seen_states.append(self.states[o[1]])


def simulated(ops: list) -> Simulation:
    sim = Simulation()
    sim.run(ops)
    return sim


@settings(max_examples=200, deadline=None)
@given(st.lists(op, max_size=30), st.data())
def test_merge_is_commutative_associative_idempotent(ops, data):
    sim = simulated(ops)
    pick = st.sampled_from(sim.seen_states)
    a, b, c = data.draw(pick), data.draw(pick), data.draw(pick)
    assert v.dvv_merge(a, b) == v.dvv_merge(b, a)
    assert v.dvv_merge(v.dvv_merge(a, b), c) == v.dvv_merge(a, v.dvv_merge(b, c))
    assert v.dvv_merge(a, a) == v.dvv_merge(a, [])


@settings(max_examples=200, deadline=None)
@given(st.lists(op, max_size=30))
def test_context_covers_exactly_what_was_read(ops):
    sim = simulated(ops)
    for state, ctx in sim.reads:
        truth = sim.closure(state)
        for dot in sim.past:
            assert ctx.covers(*dot) == (dot in truth), (dot, state)


@settings(max_examples=200, deadline=None)
@given(st.lists(op, max_size=30))
def test_no_write_is_lost_unless_a_later_write_saw_it(ops):
    """After every replica has exchanged with every other, each holds exactly the writes that
    no other write had in its causal past: concurrent writes survive as siblings."""
    sim = simulated(ops)
    merged: v.State = []
    for state in sim.states.values():
        merged = v.dvv_merge(merged, state)
    superseded = set().union(*sim.past.values()) if sim.past else set()
    assert sim.dots(merged) == set(sim.past) - superseded


def test_blind_writes_through_one_coordinator_are_siblings():
    s1, _ = v.dvv_write([], "x", v.Context(), "a")
    s2, _ = v.dvv_write(s1, "y", v.Context(), "a")
    assert [s[v.VALUE] for s in s2] == ["x", "y"]


def test_put_with_context_replaces_exactly_what_it_covers():
    s1, _ = v.dvv_write([], "x", v.Context(), "a")
    ctx = v.dvv_context(s1)
    s2, _ = v.dvv_write(s1, "y", v.Context(), "a")  # concurrent, unseen by ctx's reader
    s3, wctx = v.dvv_write(s2, "z", ctx, "a")
    assert [s[v.VALUE] for s in s3] == ["y", "z"]
    # The write's own context covers its write and what it had read, not the concurrent "y".
    s4, _ = v.dvv_write(s3, "w", wctx, "a")
    assert sorted(s[v.VALUE] for s in s4) == ["w", "y"]


def test_context_round_trips_and_rejects_garbage():
    ctx = v.Context({"a": 3, "b": 1}, {("c", 5)})
    assert v.Context.decode(ctx.encode()) == ctx
    for bad in ["zzz", "!!", "kpGS", v.Context().encode() + "A"]:
        with pytest.raises(ValueError):
            v.Context.decode(bad)


lww_version = st.builds(lambda ts, node, value: [ts, node, value],
                        st.sampled_from([1.0, 2.0, 2.5]), st.sampled_from(REPLICAS),
                        st.integers(0, 3))
lww_state = st.one_of(st.just([]), st.builds(lambda x: [x], lww_version))


@given(lww_state, lww_state, lww_state)
def test_lww_merge_is_a_semilattice_keeping_the_highest_timestamp(a, b, c):
    assert v.lww_merge(a, b) == v.lww_merge(b, a)
    assert v.lww_merge(v.lww_merge(a, b), c) == v.lww_merge(a, v.lww_merge(b, c))
    assert v.lww_merge(a, a) == a
    both = a + b
    if both:
        assert v.lww_merge(a, b)[0][0] == max(x[0] for x in both)


def test_lww_loses_the_write_with_the_lower_timestamp():
    later_but_skewed = v.lww_write([], "late", 10.0, "a")
    assert v.lww_write(later_but_skewed, "early", 9.0, "b") == [[10.0, "a", "late"]]
