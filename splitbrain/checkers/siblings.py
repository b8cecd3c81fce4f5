"""Siblings: the semantics the ``dynamo`` mode declares (vector clocks, client merges).

History shape: register ops on keys. A read's value is the list of siblings
(``meta.siblings=true``, ``meta.context`` the opaque causal context). A write is a
read-modify-write: ``value`` the value written, and its completion has ``meta.read`` (the
siblings it read) and ``meta.read_context`` (the context it sent), see
:mod:`splitbrain.checkers.causal`. Final reads (``meta.final=true``) are one per key per node.

Declared guarantees (all violations):

* ``lost-write``: an acknowledged write is in no final read, and no write that took effect (or
  may have) covered it with its context;
* ``non-concurrent-siblings``: a read returned two siblings one of which causally follows the
  other (its write's context covered the other), so the store kept a version it should have
  replaced;
* ``not-converged``: after healing and anti-entropy, the final reads of a key disagree.

Invented values are :mod:`splitbrain.checkers.reads`' job.
"""

from __future__ import annotations

from splitbrain.checkers.anomalies import AnomalyLog
from splitbrain.checkers.causal import Causality
from splitbrain.checkers.keyed import (by_key, check_converged, client_ops, final_reads, freeze,
                                       read_values, show, verdict)
from splitbrain.checkers.result import Result
from splitbrain.history import History, Op

NAME = "siblings"
ANOMALIES = ("lost-write", "non-concurrent-siblings", "not-converged")


def check(history: History | list[Op], *, limit: int = 1000) -> Result:
    """Check dynamo's sibling semantics on every key with writes."""
    log = AnomalyLog(limit)
    keys = judged = ok_writes = sibling_reads = max_siblings = 0
    for key, ops in by_key(client_ops(history), ("read", "write")).items():
        writes = [op for op in ops if op.f == "write"]
        if not writes:
            continue
        keys += 1
        causality = Causality(ops)
        for op in ops:
            if op.f == "read" and op.ok and len(read_values(op)) > 1:
                sibling_reads += 1
                max_siblings = max(max_siblings, len(read_values(op)))
                _concurrent(log, key, op, causality)
        ok_writes += sum(1 for w in writes if w.ok)
        finals = final_reads(ops)
        if not finals:
            continue
        judged += 1
        check_converged(log, key, finals)
        present = {freeze(v) for op in finals for v in read_values(op)}
        covered = causality.covered_by_effective_writes()
        for w in writes:
            v = freeze(w.value)
            if w.ok and v not in present and v not in covered:
                log.add("lost-write", [w.index] + [f.index for f in finals],
                        f"Write of {show([w.value])} to key {key!r} (op {w.index}) was "
                        f"acknowledged, yet after healing no replica has it and no later write's "
                        f"context covered it (final value {show(read_values(finals[0]))}).",
                        key=key, value=w.value)
    stats = {"keys": keys, "keys_judged": judged, "ok_writes": ok_writes,
             "reads_with_siblings": sibling_reads, "max_siblings": max_siblings,
             "lost_writes": log.count("lost-write"), **log.stats()}
    return verdict(NAME, log, stats, violated=bool(log.counts),
                   unjudged="no written key has a final read, so lost writes and convergence "
                            "could not be checked" if keys and not judged else None)


def _concurrent(log: AnomalyLog, key, read: Op, causality: Causality) -> None:
    values = read_values(read)
    frozen = [freeze(v) for v in values]
    for i, a in enumerate(frozen):
        for j, b in enumerate(frozen):
            if i != j and causality.covers(b, a):
                wa, wb = causality.writer.get(a), causality.writer.get(b)
                log.add("non-concurrent-siblings",
                        [read.index] + [w.index for w in (wa, wb) if w is not None],
                        f"Read of key {key!r} (op {read.index}) returned {show([values[i]])} and "
                        f"{show([values[j]])} as siblings, but the write of {show([values[j]])} "
                        f"had already covered {show([values[i]])} with its context.",
                        key=key, older=values[i], newer=values[j])
