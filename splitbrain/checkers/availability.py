"""Availability: the fraction of client ops that succeeded while each kind of fault was active,
beside the fraction when none was.

History shape: nemesis events (process ``"nemesis"``) pair into ops by
:meth:`History.nemesis_ops`. A fault of kind K starts with ``start-K`` (``kill``, ``pause``,
``bump-clock`` and ``strobe-clock``, ``rate-clock`` start ``kill``, ``pause``, ``clock``,
``clock-rate``) at the op's invocation and ends with ``stop-K`` (``restart``, ``resume``,
``reset-clock``, ``reset-rate``) at the op's completion; a stop naming nodes ends the open faults of its kind on those nodes, otherwise all of
them; ``heal`` ends every open fault. A client op counts under every kind active when it was
invoked, or under ``none``. Final reads (``meta.final``) are left out.

Per kind: ``ok``, ``fail``, ``info``, ``ok_fraction``, and ``answered``: the ops the store
served, ok ones plus those it refused with a definite answer about the data
(:data:`ANSWERS`: a conditional write whose condition was false was served, not refused), and
``available`` = answered / ops, the figure to read as availability. This is a measurement: the
result is always valid.
"""

from __future__ import annotations

from typing import Any

from splitbrain.checkers.result import Result
from splitbrain.history import NEMESIS, History, Op, pair

NAME = "availability"
#: The anomaly types it reports: none (a measurement).
ANOMALIES: tuple[str, ...] = ()
_STARTS = {"kill": "kill", "pause": "pause", "bump-clock": "clock", "strobe-clock": "clock",
           "rate-clock": "clock-rate"}
_STOPS = {"restart": "kill", "resume": "pause", "reset-clock": "clock", "reset-rate": "clock-rate"}
#: Errors that are the store's answer about the data rather than a refusal to serve.
ANSWERS = frozenset({"condition-failed"})


def fault_kind(f: str) -> tuple[str, str] | None:
    """``("start"|"stop", kind)`` for a nemesis op name, or None if it neither starts nor stops
    a fault."""
    if f in _STARTS:
        return "start", _STARTS[f]
    if f in _STOPS:
        return "stop", _STOPS[f]
    for prefix in ("start-", "stop-"):
        if f.startswith(prefix):
            return prefix[:-1], f[len(prefix):]
    return None


def named_nodes(value: Any) -> frozenset[str]:
    """The node names a nemesis value mentions (strings anywhere in it, dict values
    included), flattened."""
    if isinstance(value, str):
        return frozenset([value])
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return frozenset().union(*(named_nodes(v) for v in value))
    return frozenset()


def fault_changes(nemesis_ops: list[Op]) -> list[tuple[float, str, int]]:
    """Time-ordered ``(time, kind, +1|-1)`` changes in the number of open faults of each kind."""
    changes: list[tuple[float, str, int]] = []
    open_faults: list[tuple[str, frozenset[str]]] = []
    for op in nemesis_ops:
        role = ("stop", None) if op.f == "heal" else fault_kind(op.f)
        if role is None or op.type == "fail":
            continue
        kind = role[1]
        targets = named_nodes(op.output if op.output is not None else op.value)
        if role[0] == "start":
            open_faults.append((kind, targets))
            changes.append((op.call, kind, +1))
            continue
        same = [f for f in open_faults if kind is None or f[0] == kind]
        closing = same if kind is None else [f for f in same if f[1] & targets] or same
        at = op.ret if op.ret != float("inf") else op.call
        for f in closing:
            open_faults.remove(f)
            changes.append((at, f[0], -1))
    return sorted(changes, key=lambda c: c[0])


def check(history: History) -> Result:
    """Count ok/fail/info client ops under each active fault kind and under none."""
    # Pairing only the nemesis events is much cheaper than History.nemesis_ops() on big runs.
    changes = fault_changes(pair([ev for ev in history.events if ev.process == NEMESIS],
                                 include_nemesis=True))
    active: dict[str, int] = {}
    table: dict[str, dict[str, int]] = {}
    by_f: dict[str, dict[str, dict[str, int]]] = {}
    kinds: tuple[str, ...] = ("none",)
    i = 0
    for op in history.ops():
        if i < len(changes) and changes[i][0] <= op.call:
            while i < len(changes) and changes[i][0] <= op.call:
                _, kind, delta = changes[i]
                active[kind] = active.get(kind, 0) + delta
                i += 1
            kinds = tuple(k for k, n in active.items() if n > 0) or ("none",)
        if op.meta and op.meta.get("final"):
            continue
        for k in kinds:
            row = table.get(k)
            if row is None:
                row = table[k] = {"ops": 0, "ok": 0, "fail": 0, "info": 0, "answered": 0}
            row["ops"] += 1
            row[op.type] += 1
            if op.type == "ok" or op.error in ANSWERS:
                row["answered"] += 1
            frow = by_f.setdefault(k, {}).get(op.f)
            if frow is None:
                frow = by_f[k][op.f] = {"ops": 0, "ok": 0}
            frow["ops"] += 1
            if op.type == "ok":
                frow["ok"] += 1
    for rows in (table, *by_f.values()):
        for row in rows.values():
            row["ok_fraction"] = round(row["ok"] / row["ops"], 6)
    for row in table.values():
        row["available"] = round(row["answered"] / row["ops"], 6)
    return Result(True, stats={"by_fault": table}, details={"by_fault_and_f": by_f},
                  checker=NAME)
