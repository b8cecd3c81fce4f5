"""Last-write-wins: the semantics the ``lww`` mode declares, and the losses it permits.

History shape: register ops on keys (see :mod:`splitbrain.checkers.reads`); every ok write's
completion carries ``meta.ts``, the timestamp the coordinator gave it, and its ``node`` is that
coordinator (the lww mode coordinates a write at the node the client reached); reads carry
``meta.ts``, the winning write's timestamp; final reads are flagged ``meta.final=true``, one per
key per node. A read-modify-write (the set and counter workloads in lww mode) is an op of any ``f``
whose completion has ``meta.read`` (what it read) and ``meta.ts`` (the timestamp of its write).

Declared guarantee (violations, the run is invalid):

* ``not-converged``: after healing, the final reads of a key on different nodes disagree;
* ``not-highest-timestamp``: the value the replicas converged on is not the write with the
  highest timestamp among the acknowledged writes (it has a lower one, or the key is empty), or
  of acknowledged writes with that same timestamp it is not the one the mode's documented
  tie-break keeps: the highest ``(timestamp, coordinating node, msgpack bytes of the value)``
  (splitbrain/db/versions.py; an lww write is coordinated by the node the client reached); for
  a read-modify-write workload judged where its final reads agree (the set and convergence
  checkers report where they do not).

Permitted anomalies (counted, each listed; they fail a run only under ``--expect
no-lost-writes``):

* ``lost-write``: an acknowledged write A was overwritten by a write B that finished before A
  began, yet stands higher in LWW's order: a higher timestamp (B's coordinator clock was ahead,
  as Jepsen measured in Cassandra and Riak under clock skew), or the same timestamp (a coarse
  or equal clock) and a tie-break that favours B. LWW's order is the lww mode's: timestamp,
  then coordinator name, then the value's msgpack bytes (``splitbrain.db.versions``);
* ``lost-update``: several acknowledged read-modify-writes read the same state; each wrote
  that state plus its own change, so all but at most one of them were lost (one anomaly per
  group; ``lost`` says how many, ``stats.lost_updates`` sums them).

Reads returning values never written are :mod:`splitbrain.checkers.reads`' job.
"""

from __future__ import annotations

from typing import Any

import msgpack

from splitbrain.checkers.anomalies import AnomalyLog
from splitbrain.checkers.keyed import (by_key, check_converged, client_ops, final_reads, freeze,
                                       meta, ms, read_values, show, verdict)
from splitbrain.checkers.result import Result
from splitbrain.history import History, Op

NAME = "lww"
ANOMALIES = ("not-converged", "not-highest-timestamp", "lost-write", "lost-update")


def check(history: History | list[Op], *, limit: int = 1000) -> Result:
    """Check LWW convergence on every key with writes, list lost writes and lost updates."""
    log = AnomalyLog(limit)
    ops = client_ops(history)
    keys = by_key(ops, ("read", "write"))
    ok_writes = 0
    judged = 0
    for key, kops in keys.items():
        writes = [op for op in kops if op.f == "write" and op.ok and meta(op, "ts") is not None]
        ok_writes += len(writes)
        _lost_writes(log, key, writes)
        finals = final_reads(kops)
        if writes and finals:
            judged += 1
            if check_converged(log, key, finals):
                _highest_timestamp(log, key, writes, finals[0])
    rmw = lost_updates = 0
    for key, kops in by_key(ops, {op.f for op in ops}).items():
        updates = [op for op in kops if op.ok and meta(op, "read") is not None
                   and meta(op, "ts") is not None]
        rmw += len(updates)
        lost_updates += _lost_updates(log, key, updates)
        finals = final_reads(kops)
        if updates and finals and not any(op.f == "write" for op in kops):
            # A read-modify-write workload (set, counter): where the final reads agree (the
            # set and convergence checkers judge where they do not), on the highest ts.
            judged += 1
            if len({freeze(read_values(f)) for f in finals}) == 1:
                _highest_timestamp(log, key, updates, finals[0], rmw=True)
    written_keys = sum(1 for kops in keys.values() if any(op.f == "write" for op in kops))
    stats = {"keys": written_keys, "keys_judged": judged, "ok_writes": ok_writes,
             "lost_writes": log.count("lost-write"), "read_modify_writes": rmw,
             "lost_updates": lost_updates, **log.stats()}
    return verdict(NAME, log, stats,
                   violated=log.count("not-converged", "not-highest-timestamp") > 0,
                   unjudged="no key with acknowledged writes has a final read, so convergence "
                            "to the highest timestamp could not be checked"
                   if written_keys and not judged else None)


def _rank(op: Op, rmw: bool = False) -> tuple[Any, str, bytes]:
    """An acknowledged write's place in LWW's order: its timestamp, then (on a tie) its
    coordinator's name, then the msgpack bytes of the value it stored (``meta.wrote`` for a
    read-modify-write)."""
    stored = meta(op, "wrote") if rmw else op.value
    return op.meta["ts"], op.node or "", msgpack.packb(stored, use_bin_type=True)


def _lost_writes(log: AnomalyLog, key: Any, writes: list[Op]) -> None:
    """Each ok write A is lost when the highest-ranked write among those that completed
    before A began ranks above A (one sweep over writes ordered by return)."""
    rank = {op.index: _rank(op) for op in writes}
    by_ret = sorted(writes, key=lambda op: op.ret)
    best: Op | None = None
    i = 0
    for a in sorted(writes, key=lambda op: op.call):
        while i < len(by_ret) and by_ret[i].ret < a.call:
            if best is None or rank[by_ret[i].index] > rank[best.index]:
                best = by_ret[i]
            i += 1
        if best is not None and rank[best.index] > rank[a.index]:
            b = best
            if b.meta["ts"] == a.meta["ts"]:
                why = (f"carried the same ts {b.meta['ts']}, and last-write-wins broke the tie "
                       f"by coordinator ({b.node or '-'} over {a.node or '-'}) and value, not by "
                       f"time, so it kept the older write")
            else:
                why = (f"carried the higher ts {b.meta['ts']}, so last-write-wins kept the older "
                       f"write")
            log.add("lost-write", [a.index, b.index],
                    f"Write of {show([a.value])} to key {key!r} (op {a.index}, ts "
                    f"{a.meta['ts']}) was acknowledged but lost: write of {show([b.value])} "
                    f"(op {b.index}) finished {ms(a.call - b.ret)} ms before it began yet {why}.",
                    key=key, value=a.value, ts=a.meta["ts"], overwritten_by=b.index,
                    overwriting_value=b.value, overwriting_ts=b.meta["ts"])


def _highest_timestamp(log: AnomalyLog, key: Any, writes: list[Op], final: Op, *,
                       rmw: bool = False) -> None:
    """``final`` (what every replica agreed on) must be the write with the highest ts, or a
    later one, and among writes of that ts the one lww's tie-break keeps; ``rmw``: the writes
    are read-modify-writes, whose written state is ``meta.wrote`` (a read of an absent key,
    with no ts, then loses to any of them)."""
    top = max(writes, key=lambda op: _rank(op, rmw))
    values = read_values(final)
    final_ts = meta(final, "ts")
    wrote = meta(top, "wrote") if rmw else top.value
    missing = final_ts is None if rmw else not values
    got = show(values) + (f" (ts {final_ts})" if final_ts is not None else "")
    if missing or (final_ts is not None and final_ts < top.meta["ts"]):
        log.add("not-highest-timestamp", [final.index, top.index],
                f"After healing, key {key!r} holds {got} on every replica, but the acknowledged "
                f"write of {show([wrote])} (op {top.index}) has the higher ts "
                f"{top.meta['ts']}.", key=key, final=values, final_ts=final_ts,
                expected=wrote, expected_ts=top.meta["ts"])
        return
    if rmw or final_ts != top.meta["ts"]:
        return
    if values != [top.value]:
        log.add("not-highest-timestamp", [final.index, top.index],
                f"After healing, key {key!r} holds {got} on every replica, but the acknowledged "
                f"write of {show([top.value])} (op {top.index}, via {top.node}) has the same ts "
                f"and wins lww's documented tie-break (ts, then node name, then value bytes); "
                f"the replicas broke the tie some other way.", key=key, final=values,
                final_ts=final_ts, expected=top.value, expected_ts=top.meta["ts"])
    kept = next((w for w in writes if w.meta["ts"] == final_ts and [w.value] == values), None)
    for w in writes:  # concurrent with the kept write: :func:`_lost_writes` saw no order
        if (kept is not None and w is not kept and w.meta["ts"] == final_ts
                and w.ret > kept.call and kept.ret > w.call):
            log.add("lost-write", [w.index, final.index],
                    f"Write of {show([w.value])} to key {key!r} (op {w.index}, ts {final_ts}) was "
                    f"acknowledged but lost to a tie: the replicas kept {show(values)}, written "
                    f"concurrently with the same ts.", key=key, value=w.value, ts=final_ts,
                    tie=True, overwritten_by=kept.index, overwriting_value=values[0],
                    overwriting_ts=final_ts)


def _lost_updates(log: AnomalyLog, key: Any, updates: list[Op]) -> int:
    """One anomaly per group of acknowledged read-modify-writes that read the same state: each
    wrote that state plus its own change, and a register keeps one lineage, so all but at most
    one of them were lost. Returns the number of updates lost."""
    groups: dict[Any, list[Op]] = {}
    for op in updates:
        groups.setdefault(freeze(op.meta["read"]), []).append(op)
    lost = 0
    for group in groups.values():
        if len(group) < 2:
            continue
        lost += len(group) - 1
        names = ", ".join(f"{op.f} {show([op.value])} (op {op.index}, ts {op.meta['ts']})"
                          for op in group)
        log.add("lost-update", [op.index for op in group],
                f"{len(group)} acknowledged read-modify-writes of key {key!r} all read the same "
                f"state {show([group[0].meta['read']])}: {names}; last-write-wins keeps at most "
                f"one of them, so at least {len(group) - 1} update(s) were lost.",
                key=key, values=[op.value for op in group], lost=len(group) - 1,
                read=group[0].meta["read"])
    return lost
