"""Session guarantees, reported not enforced: read-your-writes and monotonic reads, per process
and key (a process is one client session; after an indeterminate op the worker continues as a
new process, so a session never spans an ``info``).

History shape: register ops (see :mod:`splitbrain.checkers.staleness` for versions). Two ways to
order what reads return:

* by version (dynamodb ``meta.version``, lww ``meta.ts``): a read is older than a write or an
  earlier read when its version is lower (an empty read is the oldest);
* causally (dynamo, reads with ``meta.siblings``): a read reflects a value when it returns it or
  a value whose write covered it (:class:`splitbrain.checkers.causal.Causality`).

Anomalies (permitted in every mode unless ``--expect`` names them):

* ``read-your-writes``: after a process's write was acknowledged, its later read of the key
  returned something older (causally: did not reflect the process's last write);
* ``monotonic-reads``: a process's read returned something older than its previous read of the
  key (causally: failed to reflect a value the previous read returned).

Final reads are left out.
"""

from __future__ import annotations

from typing import Any

from splitbrain.checkers.anomalies import AnomalyLog
from splitbrain.checkers.causal import Causality
from splitbrain.checkers.keyed import (by_key, client_ops, freeze, is_final, meta, read_values,
                                       read_version, show, version, versions_by_value,
                                       written_value)
from splitbrain.checkers.result import Result
from splitbrain.history import History, Op

NAME = "session"
ANOMALIES = ("read-your-writes", "monotonic-reads")


def check(history: History | list[Op], *, limit: int = 1000) -> Result:
    """Report read-your-writes and monotonic-reads violations of every process on every key."""
    log = AnomalyLog(limit)
    reads = 0
    for key, ops in by_key(client_ops(history), ("read", "write", "cas")).items():
        causal = any(meta(op, "siblings") for op in ops if op.f == "read")
        order = _CausalOrder(ops) if causal else _VersionOrder(ops)
        last_write: dict[Any, Op] = {}
        last_read: dict[Any, Op] = {}
        for op in ops:
            if not op.ok or is_final(op):
                continue
            if op.f != "read":
                last_write[op.process] = op
                continue
            reads += 1
            w = last_write.get(op.process)
            if w is not None and not order.read_reflects_write(op, w):
                log.add("read-your-writes", [w.index, op.index],
                        f"Process {op.process} wrote {show([written_value(w)])} to key {key!r} "
                        f"(op {w.index}, acknowledged), then read {show(read_values(op))} (op "
                        f"{op.index}), which is older.", key=key, process=op.process,
                        consistency=op.consistency)
            prev = last_read.get(op.process)
            if prev is not None and not order.read_reflects_read(op, prev):
                log.add("monotonic-reads", [prev.index, op.index],
                        f"Process {op.process} read {show(read_values(prev))} from key {key!r} "
                        f"(op {prev.index}), then {show(read_values(op))} (op {op.index}), which "
                        f"is older.", key=key, process=op.process, consistency=op.consistency)
            last_read[op.process] = op
    stats = {"reads": reads, "read_your_writes": log.count("read-your-writes"),
             "monotonic_reads": log.count("monotonic-reads"), **log.stats()}
    return Result(not log.counts, log.items, stats, checker=NAME)


class _VersionOrder:
    """Unknown versions (a read or write without one) never count as older."""

    def __init__(self, ops: list[Op]):
        self.by_value = versions_by_value(ops)

    def read_reflects_write(self, rd: Op, w: Op) -> bool:
        seen, wrote = read_version(rd, self.by_value), version(w)
        return seen is None or wrote is None or seen >= wrote

    def read_reflects_read(self, rd: Op, prev: Op) -> bool:
        seen, before = read_version(rd, self.by_value), read_version(prev, self.by_value)
        return seen is None or before is None or seen >= before


class _CausalOrder:
    def __init__(self, ops: list[Op]):
        self.causality = Causality(ops)

    def read_reflects_write(self, rd: Op, w: Op) -> bool:
        return self.causality.reflects(read_values(rd), freeze(written_value(w)))

    def read_reflects_read(self, rd: Op, prev: Op) -> bool:
        values = read_values(rd)
        return all(self.causality.reflects(values, freeze(v)) for v in read_values(prev))
