"""What the eventual checkers share about keyed histories: grouping ops by key, what a read
returned, which reads are final, versions, and the convergence check.

Shapes (as the harness records them, DESIGN.md "The history"):

* a read is ``f="read"``; its value is the list of values read (dynamo: all siblings,
  ``meta.siblings=true``) or, in lww and dynamodb, the single value read (``null`` when absent);
  both shapes are accepted, see :func:`read_values`;
* a final read is a read after the nemesis healed, flagged ``meta.final=true``, pinned to a node
  (``node`` set), at least one per key per node;
* versions: ``meta.ts`` (lww, the winning/assigned timestamp) or ``meta.version`` (dynamodb, the
  log position) on reads and on write completions.
"""

from __future__ import annotations

import json
import math
from typing import Any, Callable, Hashable, Iterable

from splitbrain.checkers.anomalies import AnomalyLog
from splitbrain.checkers.result import UNKNOWN, Result
from splitbrain.history import History, Op

NS_PER_MS = 1_000_000


def freeze(value: Any) -> Hashable:
    """A hashable stand-in for a JSON value (lists and dicts become canonical JSON text)."""
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return value


def read_values(op: Op) -> list[Any]:
    """The values an ok read returned: its list of siblings, ``[]`` for an absent key (``null``),
    or ``[v]`` for a single value."""
    out = op.output
    if out is None:
        return []
    if isinstance(out, list):
        return out
    return [out]


def meta(op: Op, name: str, default: Any = None) -> Any:
    return op.meta.get(name, default) if op.meta else default


def is_final(op: Op) -> bool:
    return bool(meta(op, "final"))


def version(op: Op) -> float | None:
    """The op's server version: ``meta.version`` (dynamodb) or else ``meta.ts`` (lww)."""
    if not op.meta:
        return None
    v = op.meta.get("version")
    return op.meta.get("ts") if v is None else v


def written_value(op: Op) -> Any:
    """The value a write writes; a cas ``[expected, new]`` writes ``new``."""
    if op.f == "cas":
        return op.value[1] if isinstance(op.value, (list, tuple)) and len(op.value) == 2 else None
    return op.value


def versions_by_value(ops: list[Op]) -> dict[Hashable, float]:
    """The versions of a key's ok writes (and cas), by frozen written value."""
    out: dict[Hashable, float] = {}
    for op in ops:
        if op.type == "ok" and (op.f == "write" or op.f == "cas"):
            v = version(op)
            if v is not None:
                out[freeze(written_value(op))] = v
    return out


def read_version(rd: Op, by_value: dict[Hashable, float]) -> float | None:
    """The version an ok read returned: its own ``meta`` version, else its value's write's
    (from :func:`versions_by_value`); ``-inf`` for an empty read (the initial version); ``None``
    when it cannot be told."""
    values = read_values(rd)
    if not values:
        return -math.inf
    v = version(rd)
    return v if v is not None else by_value.get(freeze(values[0]))


def by_key(ops: Iterable[Op], fs: Iterable[str]) -> dict[Any, list[Op]]:
    """Client ops whose ``f`` is in ``fs``, grouped by key, each group in invocation order."""
    wanted = set(fs)
    out: dict[Any, list[Op]] = {}
    for op in ops:
        if op.f in wanted:
            out.setdefault(op.key, []).append(op)
    return out


def client_ops(history: History | list[Op]) -> list[Op]:
    return history.ops() if isinstance(history, History) else history


def ms(ns: float) -> float:
    return round(ns / NS_PER_MS, 3)


def show(values: list[Any]) -> str:
    """A read's values as a person reads them: ``nothing`` or ``3`` or ``{3, 4}``."""
    if not values:
        return "nothing"
    if len(values) == 1:
        return json.dumps(values[0])
    return "{" + ", ".join(json.dumps(v) for v in values) + "}"


def final_reads(ops: list[Op]) -> list[Op]:
    """The ok final reads among a key's ops, the last one per node (a final read is retried
    until it succeeds, so earlier attempts on a node are superseded). A read answered by a
    fallback (``meta.quorum.fallbacks`` > 0: a node that stood in for an owner it believed
    down, dynamo and lww) is left out: it shows a sloppy quorum's hints, not the state the
    owners converged on (a node whose first final read timed out suspected an owner and read
    its retry from two fallbacks holding nothing)."""
    last: dict[Any, Op] = {}
    for op in ops:
        if op.f == "read" and op.ok and is_final(op):
            q = meta(op, "quorum")
            if isinstance(q, dict) and q.get("fallbacks"):
                last.pop(op.node, None)
            else:
                last[op.node] = op
    return list(last.values())


def check_converged(log: AnomalyLog, key: Any, finals: list[Op],
                    state: Callable[[Op], Hashable] | None = None) -> bool:
    """Record a ``not-converged`` anomaly when the final reads of ``key`` disagree (compared by
    ``state``, default: the set of values read). Returns whether they agree.

    A read whose ``meta.replica`` says which replica answered (``name``, ``partition``,
    ``applied``: how many log entries it had applied, as dynamodb nodes report) is named by that
    replica, and the anomaly says whether the replicas that disagree had applied the same log
    prefix (their states diverged) or not (one had not caught up)."""
    state = state or (lambda op: frozenset(freeze(v) for v in read_values(op)))
    states = {state(op) for op in finals}
    if len(states) <= 1:
        return True
    seen = "; ".join(f"{_answered_by(op)} returned {show(read_values(op))}" for op in finals)
    fields: dict[str, Any] = {"key": key,
                              "nodes": {str(op.node): read_values(op) for op in finals}}
    replicas = {str(r["name"]): r for r in (meta(op, "replica") for op in finals)
                if isinstance(r, dict) and "name" in r}
    where, why = "", ""
    if replicas:
        parts = sorted({r.get("partition") for r in replicas.values()}, key=str)
        applied = {n: r.get("applied") for n, r in sorted(replicas.items())}
        fields.update(partition=parts[0] if len(parts) == 1 else parts, replicas=applied)
        where = f" (partition {', '.join(map(str, parts))})"
        why = (f" They had applied the same {next(iter(applied.values()))} log entries, so "
               f"their states diverged." if len(set(applied.values())) == 1 else
               f" They had applied different numbers of log entries ("
               f"{', '.join(f'{n} {a}' for n, a in applied.items())}): a replica had not "
               f"caught up after healing.")
    log.add("not-converged", [op.index for op in finals],
            f"After healing, the replicas of key {key!r}{where} still disagree: {seen}.{why}",
            **fields)
    return False


def _answered_by(op: Op) -> str:
    node = str(op.node or "a node")
    r = meta(op, "replica")
    if not isinstance(r, dict) or "name" not in r:
        return node
    via = "" if str(r["name"]) == node else f" (via {node})"
    return f"replica {r['name']}{via}, {r.get('applied')} entries applied,"


def verdict(name: str, log: AnomalyLog, stats: dict[str, Any], *, violated: bool,
            unjudged: str | None) -> Result:
    """A checker's Result: invalid on a violation, else ``unknown`` because of ``unjudged`` (a
    reason the property could not be checked) when given, else valid."""
    if violated:
        return Result(False, log.items, stats, checker=name)
    if unjudged:
        return Result(UNKNOWN, log.items, stats, checker=name, reason=unjudged)
    return Result(True, log.items, stats, checker=name)
