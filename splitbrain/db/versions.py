"""The versions a key's replicas hold, and how they merge: dotted version vectors (``dynamo``)
or last-write-wins timestamps (``lww``). Pure functions over msgpack-able data.

``dynamo``: a key's state is a list of *siblings*, each ``[actor, counter, vv, dots, value]``:
the dot ``(actor, counter)`` names the write that made it (the actor is the coordinating node's
incarnation; its counters on one key are 1, 2, 3, ... because only an owner, which holds every
version it made, coordinates), and
``(vv, dots)`` is its *causal history*: every write the client had seen when it wrote, as a
version vector plus the dots that are not contiguous with it (Preguica et al., "Dotted Version
Vectors", 2010; the compact causal context of delta-CRDTs). A sibling is *dominated* when another
sibling's history contains its dot; a state keeps exactly the siblings no other sibling
dominates, so merging two states is "the maximal elements of the union", which is commutative,
associative and idempotent. A read returns the siblings and the join of their histories and
dots (the *context*); a put with that context replaces exactly the siblings it covers, and a put
without one becomes a sibling. Unlike per-node vector clocks, two clients writing blind through
one coordinator get two siblings, not a lost write.

``lww``: a key's state is ``[]`` or ``[[ts, node, value]]``; the merge keeps the highest
``(ts, node, encoded value)``: timestamps decide, ties are broken by node name and then by the
value's bytes, the same way on every replica. Writes with a lower timestamp are lost, exactly
as in Cassandra or Riak with ``allow_mult=false``.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

import msgpack

State = list
Dot = tuple[str, int]


def pack(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


@dataclass
class Context:
    """A causal context: a version vector plus dots beyond it. ``covers(dot)`` iff the dot is
    in the history it describes."""

    vv: dict[str, int] = field(default_factory=dict)
    dots: set[Dot] = field(default_factory=set)

    def covers(self, node: str, counter: int) -> bool:
        return counter <= self.vv.get(node, 0) or (node, counter) in self.dots

    def add(self, node: str, counter: int) -> None:
        if not self.covers(node, counter):
            self.dots.add((node, counter))

    def join(self, other: "Context") -> None:
        for node, c in other.vv.items():
            if c > self.vv.get(node, 0):
                self.vv[node] = c
        self.dots |= other.dots
        self.compact()

    def compact(self) -> None:
        """Fold dots contiguous with the version vector into it; drop dots it covers."""
        for node, c in sorted(self.dots):
            if c == self.vv.get(node, 0) + 1:
                self.vv[node] = c
        self.dots = {(n, c) for n, c in self.dots if c > self.vv.get(n, 0)}

    def max_counter(self, node: str) -> int:
        return max([self.vv.get(node, 0)] + [c for n, c in self.dots if n == node])

    def to_wire(self) -> list:
        """Canonical msgpack-able form: ``[[[node, c], ...], [[node, c], ...]]``, sorted."""
        return [sorted([n, c] for n, c in self.vv.items()), sorted([n, c] for n, c in self.dots)]

    @classmethod
    def from_wire(cls, wire: list) -> "Context":
        vv_pairs, dots = wire
        return cls({n: c for n, c in vv_pairs}, {(n, c) for n, c in dots})

    def encode(self) -> str:
        """The opaque string clients carry (URL-safe base64 of msgpack)."""
        return base64.urlsafe_b64encode(pack(self.to_wire())).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> "Context":
        """Raises ValueError when ``text`` is not a context this module encoded."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            vv_pairs, dots = msgpack.unpackb(raw, raw=False)
            ctx = cls({}, set())
            for n, c in vv_pairs:
                _check_dot(n, c)
                ctx.vv[n] = c
            for n, c in dots:
                _check_dot(n, c)
                ctx.dots.add((n, c))
        except (ValueError, TypeError, binascii.Error, msgpack.UnpackException) as e:
            raise ValueError(f"not a causal context ({e})") from None
        ctx.compact()
        return ctx


def _check_dot(node: Any, counter: Any) -> None:
    if not isinstance(node, str) or not isinstance(counter, int) or counter < 1:
        raise ValueError("bad dot")


# ---------------------------------------------------------------------------------------------
# Dotted version vectors (dynamo mode)

# A sibling: [node, counter, vv_pairs, dots, value]
NODE, COUNTER, VV, DOTS, VALUE = range(5)


def history(sibling: list) -> Context:
    """The sibling's causal history, its own dot included."""
    ctx = Context.from_wire([sibling[VV], sibling[DOTS]])
    ctx.add(sibling[NODE], sibling[COUNTER])
    ctx.compact()
    return ctx


def _canonical(siblings: list[list]) -> State:
    return sorted(siblings, key=lambda s: (s[NODE], s[COUNTER]))


def dvv_merge(a: State, b: State) -> State:
    """The siblings of ``a`` and ``b`` together that no other sibling dominates."""
    by_dot = {(s[NODE], s[COUNTER]): s for s in a}
    for s in b:
        by_dot.setdefault((s[NODE], s[COUNTER]), s)
    if len(by_dot) <= 1:
        return list(by_dot.values())
    histories = {dot: history(s) for dot, s in by_dot.items()}
    kept = [s for dot, s in by_dot.items()
            if not any(other != dot and h.covers(*dot) for other, h in histories.items())]
    return _canonical(kept)


def dvv_context(state: State) -> Context:
    """The join of the siblings' histories: what a reader of ``state`` has seen."""
    ctx = Context()
    for s in state:
        ctx.join(history(s))
    return ctx


def dvv_write(local: State, value: Any, ctx: Context, node: str) -> tuple[State, Context]:
    """Coordinator ``node`` writes ``value`` with the client's context ``ctx`` over its local
    state. Returns the new state and the new sibling's history (the context of the write)."""
    counter = max([ctx.max_counter(node)] + [history(s).max_counter(node) for s in local]) + 1
    wire = ctx.to_wire()
    sibling = [node, counter, wire[0], wire[1], value]
    return dvv_merge(local, [sibling]), history(sibling)


# ---------------------------------------------------------------------------------------------
# Last write wins (lww mode)

# A version: [ts, node, value]
TS = 0


def _lww_rank(v: list) -> tuple:
    return (v[0], v[1], pack(v[2]))


def lww_merge(a: State, b: State) -> State:
    """The one version with the highest (timestamp, node, encoded value)."""
    both = list(a) + list(b)
    return [max(both, key=_lww_rank)] if both else []


def lww_write(local: State, value: Any, ts: float, node: str) -> State:
    return lww_merge(local, [[ts, node, value]])
