"""Polynomial decisions, where the history allows them.

Unique-value registers (Gibbons and Korach 1997; the zone formulation of Golab, Li and Shah,
"Analyzing consistency properties for fun and profit", PODC 2011). Applies to a register
sub-history of reads and writes, or kv-append's gets and puts (after pruning; a crashed write
that no read observed has a backward zone ending at infinity, which constrains nothing), in
which every written value is distinct and differs from the initial value.
The *cluster* of a value is its write plus the reads that returned it (the initial value has a
virtual write before everything). Its zone runs from the earliest return in the cluster (low)
to the latest call (high): a *forward* zone when low < high, else a *backward* one. The history
is linearizable if and only if every read returned a written value, no read returned before its
value's write was called, no two forward zones overlap, and no backward zone lies inside a
forward zone. Sorting the zones makes this O(n log n), so a 100,000-op history is decided in well
under a second. The property tests compare it with the search on random histories.

(Histories whose appends reveal their own order are rewritten into unique-value cas-registers
by :mod:`.reduce`, where the search meets at most one legal cas per state.)
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Hashable

from splitbrain.checkers.linearizable.models import (CasRegister, KVAppend, Model, Register,
                                                     freeze, show)
from splitbrain.checkers.linearizable.search import ret_position
from splitbrain.history import Op


@dataclass
class Decision:
    """A polynomial verdict: ``valid``; when illegal, the ``culprit`` op positions and a
    one-clause ``why``."""

    name: str
    valid: bool
    culprits: list[int] = field(default_factory=list)
    why: str = ""

    def __post_init__(self) -> None:
        self.culprits = list(dict.fromkeys(self.culprits))  # one op may play two roles


def decide(ops: list[Op], model: Model) -> Decision | None:
    """A polynomial verdict on ``ops`` (one pruned sub-history), or None when none applies.
    A built-in register model (register, cas-register, kv) whose sub-history holds only reads
    and writes is a plain register there, and so is kv-append's with only gets and puts, so the
    register deciders apply whatever the model's name."""
    if (isinstance(model, Register) and type(model).step in (Register.step, CasRegister.step)) \
            or type(model) is KVAppend:
        return _unique_register(ops, model.init())
    return None


# A register's reads and writes, under the names of register and kv-append models.
READS, WRITES = ("read", "get"), ("write", "put")


_START = -1.0


def _extremes(ops: list[Op], members: list[int]) -> tuple[int | None, int | None]:
    """The member that finished first and the one that began last (None: the virtual write
    of the initial value, which finished before everything)."""
    first = min(members, key=lambda p: ret_position(ops[p]), default=None)
    last = max(members, key=lambda p: ops[p].index, default=None)
    if first is not None and not any(ops[p].f in WRITES for p in members):
        first = None  # the initial value's cluster: its virtual write finished first
    return first, last


def _desc(ops: list[Op], pos: int | None) -> str:
    if pos is None:
        return "the start (the initial value)"
    op = ops[pos]
    what = f"{op.f} {show(op.value)}" if op.f in WRITES else f"{op.f} -> {show(op.output)}"
    return f"{what} (op {op.index})"


def _unique_register(ops: list[Op], initial: Hashable) -> Decision | None:
    if any(op.f not in READS and op.f not in WRITES for op in ops):
        return None  # a cas or an append
    writer: dict[Hashable, int] = {}
    for pos, op in enumerate(ops):
        if op.f in WRITES:
            v = freeze(op.value)
            if v in writer or v == initial:
                return None
            writer[v] = pos
    name = "unique-values"
    # zone bounds per value: [low = min return, high = max call, members]
    zones: dict[Hashable, list] = {}
    for v, pos in writer.items():
        zones[v] = [ret_position(ops[pos]), float(ops[pos].index), [pos]]
    for pos, op in enumerate(ops):
        if op.f not in READS:
            continue
        v = freeze(op.output)
        if v == initial and v not in zones:
            zones[v] = [_START, _START, []]
        zone = zones.get(v)
        if zone is None:
            return Decision(name, False, [pos], f"read {show(op.output)}, a value never written")
        if v in writer and op.completion_index < ops[writer[v]].index:
            return Decision(name, False, [pos, writer[v]],
                            f"read {show(op.output)} before its write began")
        zone[0] = min(zone[0], op.completion_index)
        zone[1] = max(zone[1], op.index)
        zone[2].append(pos)
    forward = sorted((lo, hi, v) for v, (lo, hi, _) in zones.items() if lo < hi)
    for (_, hi1, v1), (lo2, _, v2) in zip(forward, forward[1:]):
        if lo2 < hi1:
            a, b = _extremes(ops, zones[v1][2])
            c, d = _extremes(ops, zones[v2][2])
            return Decision(name, False, [x for x in (b, c, a, d) if x is not None],
                            f"it began after {_desc(ops, c)} had finished, so {show(v2)} came "
                            f"before {show(v1)}; but {_desc(ops, d)} began after "
                            f"{_desc(ops, a)} had finished, so {show(v1)} came before "
                            f"{show(v2)}")
    starts = [lo for lo, _, _ in forward]
    for v, (lo, hi, members) in zones.items():
        if lo >= hi:
            k = bisect.bisect_left(starts, hi) - 1
            if k >= 0 and forward[k][1] > lo:
                u = forward[k][2]
                a, b = _extremes(ops, zones[u][2])
                early, late = _extremes(ops, members)
                return Decision(name, False, [x for x in (b, early, a, late) if x is not None],
                                f"it saw {show(u)} after {_desc(ops, early)} had finished, yet "
                                f"{_desc(ops, late)} began only after {_desc(ops, a)} had "
                                f"finished: {show(v)} was written between two observations "
                                f"of {show(u)}")
    return Decision(name, True)

