"""Figures for checker data the report has no special knowledge of.

A checker's ``stats`` and ``details`` are walked (two levels deep) and each value drawn by its
shape: a mapping of numbers to numbers is a distribution (a bar chart: ``{"0": 40, "1": 7}``),
a list of numbers is a series indexed from 0 (``p_at_least``), a list of flat records or a
mapping of names to flat records is a table (``t_visibility`` rows, ``by_fault``), a scalar is
a fact. Whatever has no such shape is left for the raw JSON block. New checkers thus render
without the report changing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from splitbrain.reports.svg import Scale, tick_label
from splitbrain.reports.text import short

MAX_ROWS = 200
MAX_BARS = 120


@dataclass
class BarChart:
    """``bars`` are (x, y, width, height, label, value) in pixels."""

    name: str
    width: int
    height: int
    bars: list[tuple[float, float, float, float, str, float]]
    y_ticks: list[tuple[float, str]]
    total: float
    note: str = ""


@dataclass
class Table:
    name: str
    columns: list[str]
    rows: list[list[str]]
    total: int


@dataclass
class Figures:
    facts: list[tuple[str, str]] = field(default_factory=list)
    charts: list[BarChart] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    rest: dict[str, Any] = field(default_factory=dict)


def number(x: Any) -> float | None:
    """``x`` as a finite float, or None (booleans are not numbers here)."""
    if isinstance(x, bool):
        return None
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return short(v, 120)


def bar_chart(name: str, bars: list[tuple[str, float]], *, width: int = 460,
              height: int = 170) -> BarChart:
    """A bar chart of (label, value) pairs, the first MAX_BARS of them."""
    note = f"first {MAX_BARS} of {len(bars)} shown" if len(bars) > MAX_BARS else ""
    bars = bars[:MAX_BARS]
    left, bottom, top = 48, 30, 10
    ys = Scale(0, max(max(v for _, v in bars), 1e-12), height - bottom, top)
    bw = (width - left - 8) / len(bars)
    out = [(round(left + i * bw + 1, 1), ys(v), round(max(bw - 2, 1), 1),
            round(height - bottom - ys(v), 1), label, v) for i, (label, v) in enumerate(bars)]
    return BarChart(name, width, height, out, [(ys(t), tick_label(t)) for t in ys.ticks(4)],
                    sum(v for _, v in bars), note)


def _bars(v: Any) -> list[tuple[str, float]] | None:
    if isinstance(v, dict) and v:
        pairs = [(number(k), number(c)) for k, c in v.items()]
        if all(k is not None and c is not None for k, c in pairs):
            return [(tick_label(k), c) for k, c in sorted(pairs)]  # type: ignore[arg-type]
    if isinstance(v, list) and v and all(number(x) is not None for x in v):
        return [(str(i), float(x)) for i, x in enumerate(v)]
    return None


def _flat(v: Any) -> bool:
    return isinstance(v, dict) and bool(v) and not any(isinstance(x, (dict, list))
                                                      for x in v.values())


def _table(name: str, v: Any) -> Table | None:
    if isinstance(v, list) and v and all(_flat(x) for x in v):
        records = [("", x) for x in v]
        first: list[str] = []
    elif isinstance(v, dict) and v and all(_flat(x) for x in v.values()) and \
            not all(_bars(x) for x in v.values()):  # a dict of distributions: charts
        records = [(str(k), x) for k, x in v.items()]
        first = [""]
    else:
        return None
    columns = list(dict.fromkeys(str(c) for _, r in records for c in r))
    rows = [([k] if first else []) + [cell(r.get(c, "")) for c in columns]
            for k, r in records[:MAX_ROWS]]
    return Table(name, first + columns, rows, len(records))


def figures(data: dict[str, Any], *, depth: int = 2, prefix: str = "") -> Figures:
    """Sort ``data``'s values into facts, charts and tables by shape (see the module doc)."""
    out = Figures()
    for k, v in data.items():
        name = f"{prefix}{k}"
        bars = _bars(v)
        table = None if bars else _table(name, v)
        if bars:
            out.charts.append(bar_chart(name, bars))
        elif table:
            out.tables.append(table)
        elif not isinstance(v, (dict, list)):
            out.facts.append((name, cell(v)))
        elif isinstance(v, dict) and v and depth > 1:
            inner = figures(v, depth=depth - 1, prefix=f"{name}.")
            out.facts += inner.facts
            out.charts += inner.charts
            out.tables += inner.tables
            if inner.rest:
                out.rest[str(k)] = inner.rest
        else:
            out.rest[str(k)] = v
    return out
