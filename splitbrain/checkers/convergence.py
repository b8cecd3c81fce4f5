"""Convergence: after healing, every node's final read of a key returns the same state.

History shape: keyed ops; final reads are ``f="read"`` flagged ``meta.final=true`` and pinned to
a node (``node`` set), at least one per key per node (the last ok one per node counts: a final
read is retried until it succeeds). A read answered by one replica of a partition says so in
``meta.replica`` (``name``, ``partition``, ``applied``), as dynamodb's eventual reads do; the
harness reads after the replicas' commit indexes agree, so a difference is a divergence, or a
replica that never caught up (the anomaly says which).

This is the check for the workloads whose own checker does not compare final reads (the
dynamodb register, every counter); :mod:`splitbrain.checkers.sets`,
:mod:`splitbrain.checkers.siblings` and :mod:`splitbrain.checkers.lww` compare theirs.

Anomalies:

* ``not-converged`` (a violation in every mode): two final reads of a key returned different
  states (values, and in dynamodb the item's version too: equal values written at different
  log positions are different histories);
* ``lost-version``: where versions are log positions (``meta.version`` on write and cas
  completions and on reads, dynamodb), every final read of a key holds a version older than an
  acknowledged write's: that write is lost for good (no later write can have a lower version).
"""

from __future__ import annotations

from typing import Any, Hashable

from splitbrain.checkers.anomalies import AnomalyLog
from splitbrain.checkers.keyed import (by_key, check_converged, client_ops, final_reads, freeze,
                                       meta, read_values, show, verdict, written_value)
from splitbrain.checkers.result import Result
from splitbrain.history import History, Op

NAME = "convergence"
ANOMALIES = ("not-converged", "lost-version")


def check(history: History | list[Op], *, limit: int = 1000) -> Result:
    """Compare the final reads of every key across nodes."""
    log = AnomalyLog(limit)
    keys = judged = 0
    for key, ops in by_key(client_ops(history), ("read", "write", "cas")).items():
        finals = final_reads(ops)
        keys += any(op.f == "read" for op in ops)
        if not finals:
            continue
        judged += 1
        check_converged(log, key, finals, _state)
        _lost_version(log, key, ops, finals)
    stats = {"keys": keys, "keys_judged": judged, **log.stats()}
    return verdict(NAME, log, stats, violated=bool(log.counts),
                   unjudged="no key has a final read, so convergence could not be checked"
                   if keys and not judged else None)


def _lost_version(log: AnomalyLog, key: Any, ops: list[Op], finals: list[Op]) -> None:
    held = [v for v in (meta(op, "version") for op in finals) if isinstance(v, (int, float))]
    acked = [op for op in ops if op.ok and op.f in ("write", "cas")
             and isinstance(meta(op, "version"), (int, float))]
    if len(held) < len(finals) or not acked:
        return
    newest = max(acked, key=lambda op: op.meta["version"])
    if max(held) < newest.meta["version"]:
        log.add("lost-version", [newest.index] + [op.index for op in finals],
                f"Write of {show([written_value(newest)])} to key {key!r} (op {newest.index}, "
                f"version {newest.meta['version']}) was acknowledged, yet after healing every "
                f"replica holds an older version (at most {max(held)}): the write is lost.",
                key=key, value=written_value(newest), version=newest.meta["version"],
                final_version=max(held))


def _state(op: Op) -> Hashable:
    return frozenset(freeze(v) for v in read_values(op)), meta(op, "version")
