"""How values look in a report: short one-line renderings of history values, durations, verdicts.

Everything here returns plain text; escaping is the templates' job (Jinja2 autoescape).
"""

from __future__ import annotations

import json
import math
from typing import Any

from splitbrain.history import Op


def short(value: Any, limit: int = 40) -> str:
    """A compact one-line rendering of a history value, cut to ``limit`` characters."""
    if isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, separators=(",", ":"), default=str, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: max(limit - 1, 1)] + "…"


def describe_op(op: Op, limit: int = 40) -> str:
    """``f value → output`` as a person reads an op: ``write 3``, ``read → 3``, ``cas [1,2]``,
    ``read ✗ timeout`` for a failed op, ``write 3 ?`` for an indeterminate one."""
    parts = [op.f]
    if op.value is not None:
        parts.append(short(op.value, limit))
    if op.type == "ok" and op.output is not None and op.output != op.value:
        parts.append("→ " + short(op.output, limit))
    if op.type == "fail":
        parts.append("✗" + (f" {op.error}" if op.error else ""))
    elif op.type == "info":
        parts.append("?" + (f" {op.error}" if op.error else ""))
    return " ".join(parts)


def seconds(ns: float) -> str:
    """A duration in nanoseconds as a person reads it: ``850 µs``, ``12.3 ms``, ``4.51 s``,
    ``3 min 20 s``."""
    if ns is None or (isinstance(ns, float) and not math.isfinite(ns)):
        return "∞"
    s = ns / 1e9
    if s >= 120:
        return f"{int(s // 60)} min {int(s % 60)} s"
    if s >= 1:
        return f"{s:.3g} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    if s >= 1e-6 or ns == 0:
        return f"{s * 1e6:.3g} µs"
    return f"{ns:.3g} ns"


def moment(time: float, measured: bool) -> str:
    """When an event happened, as a report shows it: its time since the start when the
    history's times were measured, else its place in the history (``event 12``): an imported
    history that numbers its events has no time to show."""
    if measured or time is None or (isinstance(time, float) and not math.isfinite(time)):
        return seconds(time)
    return f"event {int(time)}"


def verdict_word(valid: Any) -> str:
    """``valid``, ``invalid`` or ``unknown`` for a Result's ``valid`` field."""
    if valid is True:
        return "valid"
    if valid is False:
        return "invalid"
    return "unknown"


def process_label(process: int | str) -> str:
    return f"p{process}" if isinstance(process, int) else str(process)


def _sides(cut: dict[str, Any]) -> list[list[str]]:
    """The sides of a partition given as ``{node: [nodes it cannot reach]}``: the groups of
    nodes that still reach each other."""
    nodes = sorted(set(cut) | {str(n) for ns in cut.values() if isinstance(ns, list) for n in ns})
    blocked = {(str(a), str(b)) for a, ns in cut.items() if isinstance(ns, list) for b in ns}
    sides, seen = [], set()
    for start in nodes:
        if start in seen:
            continue
        side, todo = [], [start]
        seen.add(start)
        while todo:
            n = todo.pop()
            side.append(n)
            for m in nodes:
                if m not in seen and (n, m) not in blocked and (m, n) not in blocked:
                    seen.add(m)
                    todo.append(m)
        sides.append(sorted(side))
    return sides


def targets(value: Any) -> str:
    """A nemesis op's targets in one short line: ``n1, n2`` (a list, or ``{"nodes": [...]}``),
    ``n1 n2 | n3 n4 n5`` (the sides of a partition, given as groups or as a ``cut`` map of
    unreachable peers), ``n1: 250`` (per-node values)."""
    if value is None:
        return ""
    if isinstance(value, dict) and isinstance(value.get("cut"), dict):
        sides = " | ".join(" ".join(side) for side in _sides(value["cut"]))
        return f"{value['topology']}: {sides}" if value.get("topology") else sides
    if isinstance(value, dict) and set(value) == {"nodes"}:
        value = value["nodes"]
    if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
        return " | ".join(" ".join(str(x) for x in group) for group in value)
    if isinstance(value, list):
        return ", ".join(short(v, 20) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {short(v, 30)}" for k, v in value.items())
    return short(value, 60)
