"""Counters: every read lies between what certainly happened before it and what possibly did.

History shape: ``f="add"`` with ``value`` the delta (an atomic add in dynamodb, a
read-modify-write in dynamo and lww), ``f="read"`` with ``value`` the number read (or a
one-element list; absent reads as the initial value). Keys group independent counters.

For an ok read R: an add is *certain* when it was acknowledged before R began, *possible* when
it was invoked before R ended, is not certain and did not fail. R must satisfy
``initial + sum(certain) + sum(possible negative deltas) <= value <= initial + sum(certain) +
sum(possible positive deltas)``. Anomalies:

* ``counter-too-low``: below the lower bound by ``d``, and some final read (``meta.final``,
  the last ok one per node) misses less than ``d`` of the acknowledged adds: the read was
  stale (also when there are no final reads: nothing tells which);
* ``counter-lost-adds``: below the lower bound by ``d``, and every final read misses at least
  ``d``: acknowledged increments of at least ``d`` were lost, not merely unseen (final reads
  run after healing, with no add in flight, so their shortfall is what is gone for good);
* ``counter-too-high``: above the upper bound: the read counts increments never attempted;
* ``lost-add`` (one per counter): after healing, no final read (``meta.final``, the last ok one
  per node) reaches its lower bound: acknowledged increments are missing from every replica,
  for good. Final reads below the bound are reported this way, not as ``counter-too-low``
  (a lagging replica among others that have them is a convergence failure, judged by
  :mod:`splitbrain.checkers.convergence`).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from itertools import accumulate
from typing import Any

from splitbrain.checkers.anomalies import AnomalyLog
from splitbrain.checkers.keyed import by_key, client_ops, final_reads, is_final, read_values
from splitbrain.checkers.result import Result
from splitbrain.history import History, Op

NAME = "counter"
ANOMALIES = ("counter-too-low", "counter-lost-adds", "counter-too-high", "lost-add")


class _Sums:
    """Prefix sums of deltas over ops sorted by one time, for 'sum of deltas of ops with time
    < t' (or <= t) in O(log n)."""

    def __init__(self, ops: list[Op], time: str, sign: int = 0):
        pairs = sorted((getattr(op, time), op.value) for op in ops
                       if sign == 0 or (op.value > 0) == (sign > 0))
        self.times = [t for t, _ in pairs]
        self.sums = [0, *accumulate(d for _, d in pairs)]

    def before(self, t: float) -> float:
        return self.sums[bisect_left(self.times, t)]

    def until(self, t: float) -> float:
        return self.sums[bisect_right(self.times, t)]


def check(history: History | list[Op], *, initial: float = 0, limit: int = 1000) -> Result:
    """Check every ok read of every counter against its bounds."""
    log = AnomalyLog(limit)
    reads = 0
    for key, ops in by_key(client_ops(history), ("add", "read")).items():
        adds = [op for op in ops if op.f == "add" and op.type != "fail"
                and isinstance(op.value, (int, float))]
        acked = [op for op in adds if op.ok]
        certain = _Sums(acked, "ret")
        # Certain adds are a subset of those invoked before the read ended; the possible ones
        # are the rest, split by sign.
        invoked_pos, invoked_neg = _Sums(adds, "call", +1), _Sums(adds, "call", -1)
        certain_pos, certain_neg = _Sums(acked, "ret", +1), _Sums(acked, "ret", -1)
        finals = final_reads(ops)
        short: list[tuple[Op, Any, float]] = []
        bounded: list[tuple[Op, Any, float, float]] = []
        for r in ops:
            if r.f != "read" or not r.ok:
                continue
            reads += 1
            got = _number(r, initial)
            base = initial + certain.before(r.call)
            lower = base + invoked_neg.until(r.ret) - certain_neg.before(r.call)
            upper = base + invoked_pos.until(r.ret) - certain_pos.before(r.call)
            if got is not None:
                bounded.append((r, got, lower, upper))
        last = {op.index for op in finals}
        final_short = [max(0, lower - got) for r, got, lower, _ in bounded if r.index in last]
        gone = min(final_short) if final_short else None
        for r, got, lower, upper in bounded:
            if got < lower and is_final(r):
                short.append((r, got, lower))
            elif got < lower:
                lost = gone is not None and gone >= lower - got
                seen = (f"the final reads after healing still miss at least {gone}: "
                        f"acknowledged increments of at least {lower - got} were lost, not "
                        f"merely unseen" if lost else
                        f"the final reads miss only {gone}: the read was stale"
                        if gone is not None else
                        "without final reads a stale read cannot be told from lost increments")
                log.add("counter-lost-adds" if lost else "counter-too-low", [r.index],
                        f"Read of counter {key!r} (op {r.index}) returned {got}, but adds "
                        f"acknowledged before it began already sum to at least {lower}; {seen}.",
                        key=key, value=got, lower=lower, upper=upper, consistency=r.consistency)
            elif got > upper:
                log.add("counter-too-high", [r.index], f"Read of counter {key!r} (op "
                        f"{r.index}) returned {got}, more than the {upper} that every add "
                        f"invoked before it ended could make.", key=key, value=got,
                        lower=lower, upper=upper, consistency=r.consistency)
        short = [s for s in short if s[0].index in last]
        if finals and len(short) == len(finals):
            r, got, lower = max(short, key=lambda s: s[1])
            log.add("lost-add", [op.index for op in finals],
                    f"After healing, no node's final read of counter {key!r} reaches the "
                    f"{lower} that acknowledged adds sum to: the highest is {got} (node "
                    f"{r.node}, op {r.index}), so acknowledged increments of at least "
                    f"{lower - got} are lost.", key=key, value=got, lower=lower,
                    nodes={str(op.node): _number(op, initial) for op in finals})
    return Result(not log.counts, log.items, {"reads": reads, **log.stats()}, checker=NAME)


def _number(read: Op, initial: float) -> Any:
    values = read_values(read)
    if not values:
        return initial
    v = values[0]
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None
