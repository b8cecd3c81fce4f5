"""Sets, with Jepsen's set-full semantics: what became of every element ever added.

History shape: ``f="add"`` with ``value`` the element (unique across the run; an atomic
add-to-set in dynamodb, a read-merge-write in dynamo and lww, one op per element either way,
completing ok, fail or info); ``f="read"`` with ``value`` the list of elements read (dynamo: the
union of the siblings); final reads flagged ``meta.final=true``, one per key per node.

An element is *known* from its add's acknowledgement, or from the end of the first read that
returned it, whichever is earlier. Per element:

* ``lost`` (anomaly): known, yet in no final read (without final reads: missing from the last
  read that began after it was known);
* ``unexpected`` (anomaly): read although no add of it was attempted, or only a failed one;
* ``stale-read`` (anomaly, one per element): missing from some read that began after it was
  known, but present again later;
* ``not-converged`` (anomaly): the final reads of a key disagree;
* ``recovered``: its add was indeterminate (info) and it appeared;
* ``never-read``: acknowledged, but no read began after that.

``details.stable_latency_ms`` gives quantiles of the time from an add's acknowledgement to the
first read from which on every read has the element.
"""

from __future__ import annotations

import heapq
import math
from typing import Any

from splitbrain.checkers.anomalies import AnomalyLog
from splitbrain.checkers.keyed import (by_key, check_converged, client_ops, final_reads, freeze,
                                       ms, read_values, show)
from splitbrain.checkers.result import Result
from splitbrain.history import History, Op

NAME = "set"
ANOMALIES = ("lost", "unexpected", "stale-read", "not-converged")
INF = math.inf


class _Element:
    __slots__ = ("add", "known", "first_present", "absent", "stale", "last_absent",
                 "last_present", "stable_from")

    def __init__(self, add: Op | None):
        self.add = add
        self.known = add.ret if add is not None and add.ok else INF
        self.first_present: Op | None = None
        self.absent: Op | None = None       # first absence since the last presence
        self.stale: tuple[Op, Op] | None = None  # (absent read, later present read)
        self.last_absent: Op | None = None
        self.last_present: Op | None = None
        self.stable_from: Op | None = None


def check(history: History | list[Op], *, limit: int = 1000) -> Result:
    """Judge every element of every key's set."""
    log = AnomalyLog(limit)
    totals = dict.fromkeys(("attempted", "acknowledged", "ok", "lost", "unexpected", "failed",
                            "indeterminate", "recovered", "stale", "never_read", "reads"), 0)
    latencies: list[float] = []
    recovered: list[Any] = []
    never_read: list[Any] = []
    for key, ops in by_key(client_ops(history), ("add", "read")).items():
        elements = {freeze(op.value): _Element(op) for op in ops if op.f == "add"}
        totals["attempted"] += len(elements)
        totals["acknowledged"] += sum(1 for e in elements.values() if e.add.ok)
        reads = [op for op in ops if op.f == "read" and op.ok]
        totals["reads"] += len(reads)
        _sweep(log, key, elements, reads)
        finals = final_reads(ops)
        if finals:
            check_converged(log, key, finals)
        in_final = {freeze(v) for op in finals for v in read_values(op)}
        for name, e in elements.items():
            outcome = _outcome(e, finals, in_final, name)
            totals[outcome] += 1
            if outcome in ("unexpected", "failed", "indeterminate"):
                continue
            if outcome == "lost":
                ops_ = [e.add.index] + ([e.last_present.index] if e.last_present else [])
                ops_ += [op.index for op in finals] or [e.last_absent.index]
                how = "acknowledged" if e.add.ok else "read"
                log.add("lost", ops_, f"Element {show([e.add.value])} of key {key!r} (add op "
                        f"{e.add.index}) was {how}, but {'no final read' if finals else 'the last read'} "
                        f"has it.", key=key, element=e.add.value, add_type=e.add.type)
                continue
            if outcome == "recovered":
                recovered.append(e.add.value)
            elif outcome == "never_read":
                never_read.append(e.add.value)
            if e.stale is not None:
                totals["stale"] += 1
                gone, back = e.stale
                log.add("stale-read", [e.add.index, gone.index, back.index],
                        f"Read of key {key!r} (op {gone.index}) missed element "
                        f"{show([e.add.value])}, which was already "
                        f"{'acknowledged' if e.add.ok and e.add.ret < gone.call else 'read'}; a "
                        f"later read (op {back.index}) had it again.", key=key,
                        element=e.add.value, consistency=gone.consistency)
            if e.add.ok and e.stable_from is not None:
                latencies.append(max(0.0, e.stable_from.call - e.add.ret))
    stats = {**totals, **log.stats()}
    details = {"stable_latency_ms": _quantiles(latencies), "recovered": recovered[:limit],
               "never_read": never_read[:limit]}
    valid = log.count("lost", "unexpected", "not-converged") == 0
    return Result(valid, log.items, stats, details=details, checker=NAME)


def _sweep(log: AnomalyLog, key: Any, elements: dict[Any, _Element], reads: list[Op]) -> None:
    """Walk the reads in invocation order, noting for each element every presence and every
    absence after it was known. The elements known before a read began are popped from a heap
    of known times (a known time only ever decreases, so stale heap entries are harmless)."""
    heap = [(e.known, n) for n, e in elements.items() if e.known < INF]
    heapq.heapify(heap)
    known: set[Any] = set()
    for r in reads:
        while heap and heap[0][0] < r.call:
            known.add(heapq.heappop(heap)[1])
        present = {freeze(v) for v in read_values(r)}
        for n in present:
            e = elements.get(n)
            if e is None:
                elements[n] = e = _Element(None)
            if e.first_present is None and (e.add is None or e.add.type == "fail"):
                why = "whose add failed definitely" if e.add else "that no add attempted"
                log.add("unexpected", [r.index] + ([e.add.index] if e.add else []),
                        f"Read of key {key!r} (op {r.index}) returned element "
                        f"{show([_value(r, n)])}, {why}.", key=key, element=_value(r, n))
            if e.first_present is None:
                e.first_present = r
            if r.ret < e.known:
                e.known = r.ret
                heapq.heappush(heap, (r.ret, n))
            if e.absent is not None and e.stale is None:
                e.stale = (e.absent, r)
            e.absent = None
            e.last_present = r
            if e.stable_from is None:
                e.stable_from = r
        for n in known - present:
            e = elements[n]
            if e.absent is None:
                e.absent = r
            e.last_absent = r
            e.stable_from = None


def _value(read: Op, frozen: Any) -> Any:
    return next(v for v in read_values(read) if freeze(v) == frozen)


def _outcome(e: _Element, finals: list[Op], in_final: set, name: Any) -> str:
    if e.add is None:
        return "unexpected"
    if e.add.type == "fail":
        return "unexpected" if e.first_present is not None else "failed"
    if e.known == INF:
        return "never_read" if e.add.ok else "indeterminate"
    if finals:
        lost = name not in in_final
    else:
        lost = e.last_absent is not None and (e.last_present is None
                                              or e.last_absent.call > e.last_present.call)
    if lost:
        return "lost"
    if e.add.type == "info":
        return "recovered"
    if e.last_present is None and e.last_absent is None:
        return "never_read"
    return "ok"


def _quantiles(samples_ns: list[float]) -> dict[str, float]:
    if not samples_ns:
        return {}
    s = sorted(samples_ns)
    pick = lambda q: ms(s[min(len(s) - 1, int(q * len(s)))])  # noqa: E731
    return {"count": len(s), "p50": pick(0.5), "p90": pick(0.9), "p99": pick(0.99),
            "max": ms(s[-1])}
