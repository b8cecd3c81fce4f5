"""Polynomial decisions, where the history allows them.

Unique-value registers (Gibbons and Korach 1997; the zone formulation of Golab, Li and Shah,
"Analyzing consistency properties for fun and profit", PODC 2011). Applies to a register
sub-history of reads and writes (after pruning, so every remaining crashed write was observed
and took effect) in which every written value is distinct and differs from the initial value.
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

from splitbrain.checkers.linearizable.models import Model, Register, freeze, show
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


def decide(ops: list[Op], model: Model) -> Decision | None:
    """A polynomial verdict on ``ops`` (one pruned sub-history), or None when none applies."""
    if type(model).step is Register.step and isinstance(model, Register):
        return _unique_register(ops, model)
    return None


_START = -1.0


def _unique_register(ops: list[Op], model: Register) -> Decision | None:
    if any(op.f not in ("read", "write") for op in ops):
        return None
    initial = model.init()
    writer: dict[Hashable, int] = {}
    for pos, op in enumerate(ops):
        if op.f == "write":
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
        if op.f != "read":
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
    for (lo1, hi1, v1), (lo2, hi2, v2) in zip(forward, forward[1:]):
        if lo2 < hi1:
            return Decision(name, False, sorted(zones[v1][2] + zones[v2][2]),
                            f"{show(v1)} and {show(v2)} were each read after the other was "
                            f"written")
    starts = [lo for lo, _, _ in forward]
    for v, (lo, hi, members) in zones.items():
        if lo >= hi:
            k = bisect.bisect_left(starts, hi) - 1
            if k >= 0 and forward[k][1] > lo:
                u = forward[k][2]
                return Decision(name, False, sorted(members + zones[u][2]),
                                f"{show(v)} was written while {show(u)} was still being read")
    return Decision(name, True)

