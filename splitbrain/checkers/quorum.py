"""The strict quorum's promise, judged: with R+W>N a read outside fault windows sees every write
acknowledged before it began, and every acknowledged op was answered by R (reads) or W (writes)
replicas.

Rules:

* Counts: dynamo and lww replies carry ``meta.quorum`` = ``{"needed", "answered",
  "fallbacks"}`` (docs/node-api.md; a read-modify-write's read half as ``meta.read_quorum``).
  An ok op whose ``answered`` is below the cluster's R (reads) or W (writes) is a
  ``broken-quorum``: it is stale-prone by construction, whatever R+W>N promises.
* Fault windows: a fault is in force from the invocation of the nemesis op that starts it to
  the completion of the one that heals it (:func:`splitbrain.checkers.availability.fault_changes`
  pairs them; ``heal`` ends every fault; a fault never healed lasts to the end). A nemesis op
  that neither starts nor heals a known fault makes the rest of the history unjudged.
* Outside fault windows: no fault was in force at any time from ``settle`` seconds before the
  read's invocation to its completion, i.e. the read began at least ``settle`` after the last
  heal and ended before the next fault began. ``settle`` (:func:`settle_seconds`) bounds what a
  correct store needs after a heal before its owners hold every write again: the failure
  detector hearing the healed node (``failure_timeout_ms`` plus two gossip rounds), two hinted
  handoff rounds, and one request timeout for a write in flight across the heal.
* Stale: the read (a register read, ``f="read"``) missed the newest write of its key that was
  acknowledged before it began: in lww its timestamp is below that write's (``meta.ts``); in
  dynamo it neither returned that write's value nor a value whose write covered it, nor a
  value whose causal past holds a write whose context is unknown (an indeterminate
  read-modify-write: it may have covered it; :meth:`Causality.may_reflect
  <splitbrain.checkers.causal.Causality.may_reflect>`). A read or write answered by a fallback
  (``fallbacks > 0``: a sloppy quorum, no intersection promised) is not held to the promise.
  With R+W>N such a stale read outside fault windows is a ``quorum-stale-read``.
* Stats put the judged reads (``quiet_reads``, ``quiet_stale_reads``) beside the PBS closed
  form's prediction for a read with every replica up (``pbs_stale_fraction``: 0 when R+W>N).
* Unjudged parts are said so in ``details.unchecked`` (anomaly type -> reason): R+W<=N, timing
  parameters unknown, fault windows unknown (a history without nemesis ops whose caller did not
  say it records every fault: ``faults_recorded``), or no op carrying counts.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from typing import Any, Mapping

from splitbrain.checkers import pbs
from splitbrain.checkers.anomalies import AnomalyLog
from splitbrain.checkers.availability import fault_changes, fault_kind
from splitbrain.checkers.causal import Causality
from splitbrain.checkers.keyed import (by_key, client_ops, freeze, meta, ms, read_values,
                                       read_version, show, versions_by_value, written_value)
from splitbrain.checkers.result import Result
from splitbrain.history import NEMESIS, History, Op, pair

NAME = "quorum"
STALE, BROKEN = "quorum-stale-read", "broken-quorum"
ANOMALIES = (STALE, BROKEN)
#: The cluster parameters (ms) :func:`settle_seconds` reads.
TIMING = ("failure_timeout_ms", "gossip_interval_ms", "hint_interval_ms", "request_timeout_ms")


def settle_seconds(params: Mapping[str, Any]) -> float | None:
    """How long after a heal the promise is judged again, from the cluster config ``params``
    (None when one of :data:`TIMING` is missing). Timers fire at 0.5 to 1.5 times their
    interval, hence the factor 1.5."""
    if any(not isinstance(params.get(k), (int, float)) for k in TIMING):
        return None
    ms_total = (params["failure_timeout_ms"] + 2 * 1.5 * params["gossip_interval_ms"]
                + 2 * 1.5 * params["hint_interval_ms"] + params["request_timeout_ms"])
    return ms_total / 1000


class Windows:
    """The fault windows of a history, as sorted, merged ``(start, end)`` nanoseconds; ``known``
    is False (with ``why``) when they cannot be told."""

    def __init__(self, history: History | list[Op], faults_recorded: bool):
        nemesis = (pair([ev for ev in history.events if ev.process == NEMESIS],
                        include_nemesis=True) if isinstance(history, History)
                   else [op for op in history if op.process == NEMESIS])
        self.count = 0
        self.known, self.why = True, ""
        self.unknown_from = math.inf
        for op in nemesis:
            if op.f != "heal" and fault_kind(op.f) is None:
                self.unknown_from = min(self.unknown_from, op.call)
        if not nemesis and not faults_recorded:
            self.known = False
            self.why = ("the history has no nemesis ops and its source did not say it records "
                        "every fault, so when faults were in force is unknown")
        spans: list[list[float]] = []
        depth = 0
        for t, _, delta in fault_changes(nemesis):
            if depth == 0 and delta > 0:
                spans.append([t, math.inf])
                self.count += 1
            depth = max(0, depth + delta)
            if depth == 0 and spans:
                spans[-1][1] = t
        self.starts = [s for s, _ in spans]
        self.ends = [e for _, e in spans]

    def quiet(self, op: Op, settle_ns: float) -> bool:
        """Whether no fault was in force from ``settle_ns`` before ``op`` began to its end."""
        if not self.known or op.ret >= self.unknown_from:
            return False
        i = bisect_left(self.ends, op.call - settle_ns)
        return i == len(self.ends) or self.starts[i] > op.ret


def _quorum(op: Op, name: str = "quorum") -> dict[str, Any] | None:
    q = meta(op, name)
    return q if isinstance(q, dict) and isinstance(q.get("answered"), int) else None


def _sloppy(op: Op) -> bool:
    q = _quorum(op)
    return q is not None and bool(q.get("fallbacks"))


def check(history: History | list[Op], *, n: int, r: int, w: int,
          settle: float | None = None, faults_recorded: bool = False,
          limit: int = 1000) -> Result:
    """Judge ``history`` (a dynamo or lww run on a cluster of replication ``n`` and default
    quorums ``r`` and ``w``) by the rules above; ``settle`` in seconds (None: stale reads are
    not judged)."""
    log = AnomalyLog(limit)
    ops = client_ops(history)
    unchecked: dict[str, str] = {}
    counted = _broken(ops, r, w, log)
    if not counted:
        unchecked[BROKEN] = ("no op of the history says how many replicas answered it "
                             "(meta.quorum)")
    windows = Windows(history, faults_recorded)
    stats: dict[str, Any] = {"ops_with_counts": counted, "fault_windows": windows.count,
                             "settle_s": settle, "quiet_reads": 0, "quiet_stale_reads": 0,
                             "pbs_stale_fraction": round(pbs.k_staleness(n, r, w, 1)[1], 6),
                             "sloppy_reads_skipped": 0}
    if r + w <= n:
        unchecked[STALE] = (f"R+W<=N (R={r}, W={w}, N={n}): the quorums need not intersect, "
                            f"so nothing promises a read sees the last write")
    elif settle is None:
        unchecked[STALE] = ("the cluster's timing parameters are unknown, so the settle time "
                            "after a heal is too")
    elif not windows.known:
        unchecked[STALE] = windows.why
    else:
        for key, kops in by_key(ops, ("read", "write", "cas")).items():
            _stale(key, kops, windows, settle * 1e9, (n, r, w), log, stats)
    if windows.unknown_from < math.inf:
        stats["unjudged_after_ms"] = ms(windows.unknown_from)
    return Result(True, log.items, {**stats, **log.stats()},
                  details={"unchecked": unchecked}, checker=NAME)


def _broken(ops: list[Op], r: int, w: int, log: AnomalyLog) -> int:
    """Flag every ok op answered by fewer replicas than the cluster's quorum; returns how many
    ops carried counts."""
    counted = 0
    for op in ops:
        if op.type != "ok":
            continue
        halves = [("quorum", "read" if op.f == "read" else "write"), ("read_quorum", "read")]
        for field, kind in halves:
            q = _quorum(op, field)
            if q is None:
                continue
            counted += 1
            want = r if kind == "read" else w
            if q["answered"] < want:
                what = "Read" if op.f == "read" else f"The {kind} half of {op.f}"
                log.add(BROKEN, [op.index],
                        f"{what} of key {op.key!r} (op {op.index}) was answered by "
                        f"{q['answered']} replica(s), fewer than the cluster's "
                        f"{'R' if kind == 'read' else 'W'}={want} (the node waited for "
                        f"{q.get('needed')}): it can miss a write that {w if kind == 'read' else r}"
                        f" other replicas hold, so the quorum's promise does not cover it; check"
                        f" how the node counts answers.", key=op.key, kind=kind,
                        answered=q["answered"], needed=q.get("needed"), quorum=want)
    return counted


def _stale(key: Any, ops: list[Op], windows: Windows, settle_ns: float,
           nrw: tuple[int, int, int], log: AnomalyLog, stats: dict[str, Any]) -> None:
    """Judge the ok reads of one key outside fault windows against the newest write acknowledged
    (without fallbacks) before each began."""
    siblings = any(meta(op, "siblings") for op in ops)
    causality = Causality(ops) if siblings else None
    by_value = versions_by_value(ops)
    acked = sorted((op for op in ops if op.type == "ok" and op.f in ("write", "cas")
                    and not _sloppy(op)), key=lambda op: op.ret)
    i, newest, newest_v = 0, None, -math.inf
    for rd in ops:
        if rd.f != "read" or rd.type != "ok":
            continue
        while i < len(acked) and acked[i].ret < rd.call:
            op = acked[i]
            v = by_value.get(freeze(written_value(op)))
            if siblings or newest is None or (v is not None and v > newest_v):
                newest, newest_v = op, (v if v is not None else newest_v)
            i += 1
        if newest is None or not windows.quiet(rd, settle_ns):
            continue
        if _sloppy(rd):
            stats["sloppy_reads_skipped"] += 1
            continue
        stats["quiet_reads"] += 1
        if causality is not None:
            stale = not causality.may_reflect(read_values(rd), freeze(written_value(newest)))
        else:
            seen = read_version(rd, by_value)
            stale = seen is not None and seen < newest_v
        if stale:
            stats["quiet_stale_reads"] += 1
            _report(key, rd, newest, nrw, log)


def _report(key: Any, rd: Op, newest: Op, nrw: tuple[int, int, int], log: AnomalyLog) -> None:
    n, r, w = nrw
    q = _quorum(rd)
    answered = (f" The read was answered by {q['answered']} replica(s) (the node waited for "
                f"{q.get('needed')})." if q else "")
    log.add(STALE, [rd.index, newest.index],
            f"Read of key {key!r} (op {rd.index}) returned {show(read_values(rd))} with no "
            f"fault in force since before the settle time, but missed the write of "
            f"{show([written_value(newest)])} (op {newest.index}), acknowledged "
            f"{ms(rd.call - newest.ret)} ms before the read began: with R={r}, W={w} of N={n} "
            f"every read quorum meets every write quorum, so the read should have seen it.{answered}"
            f" Look for a replica that acknowledged or answered without holding the write.",
            key=key, t_ms=ms(rd.call - newest.ret))
