"""Reads return only values that were written: the guarantee every mode makes, for eventual
reads too (DynamoDB's eventual reads may be stale but are never invented).

History shape: register ops. ``f="write"`` with ``value`` the value written, ``f="cas"`` with
``value`` ``[expected, new]`` (its written value is ``new``), ``f="read"`` returning a list of
values or a single value (see :func:`splitbrain.checkers.keyed.read_values`). Written values
need not be unique per key, but a read can only be traced to a write when they are.

Anomalies (all violations in every mode):

* ``invented-value``: a read returned a value no write of that key ever attempted;
* ``aborted-read``: a read returned a value whose every write failed definitely;
* ``future-read``: a read returned a value whose writes were all invoked after the read ended.
"""

from __future__ import annotations

from typing import Any

from splitbrain.checkers.anomalies import AnomalyLog
from splitbrain.checkers.keyed import (by_key, client_ops, freeze, read_values, show,
                                       written_value)
from splitbrain.checkers.result import Result
from splitbrain.history import History, Op

NAME = "reads"
ANOMALIES = ("invented-value", "aborted-read", "future-read")


def writers_by_value(ops: list[Op]) -> dict[Any, list[Op]]:
    """A key's write and cas ops by (frozen) written value."""
    out: dict[Any, list[Op]] = {}
    for op in ops:
        if op.f in ("write", "cas"):
            out.setdefault(freeze(written_value(op)), []).append(op)
    return out


def check(history: History | list[Op], *, limit: int = 1000) -> Result:
    """Check that every ok read of every key returned only values that some write of that key
    attempted, did not certainly fail, and had invoked before the read ended."""
    log = AnomalyLog(limit)
    reads = 0
    for key, ops in by_key(client_ops(history), ("read", "write", "cas")).items():
        writers = writers_by_value(ops)
        for op in ops:
            if op.f != "read" or not op.ok:
                continue
            reads += 1
            for v in read_values(op):
                _check_value(log, key, op, v, writers.get(freeze(v), []))
    return Result(valid=not log.counts, anomalies=log.items, checker=NAME,
                  stats={"reads": reads, **log.stats()})


def _check_value(log: AnomalyLog, key: Any, read: Op, v: Any, writes: list[Op]) -> None:
    if not writes:
        kind, extra = "invented-value", "which no write of that key ever attempted."
    elif all(w.type == "fail" for w in writes):
        kind, extra = "aborted-read", (f"but the only write of it (op {writes[0].index}) failed "
                                       f"definitely, so it should never have been stored.")
    elif all(w.call > read.ret for w in writes):
        kind, extra = "future-read", (f"before that value's write (op {writes[0].index}) was "
                                      f"even invoked.")
    else:
        return
    log.add(kind, [read.index] + [w.index for w in writes],
            f"Read of key {key!r} (op {read.index}) returned {show([v])}, {extra}",
            key=key, value=v)
