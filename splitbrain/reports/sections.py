"""One report section per checker: its verdict, its stats, every anomaly with its explanation
and a timeline of the ops it names, per-key verdicts, and any distributions in its details.

Checkers this module knows nothing about still render: stats become a table, anomalies a list,
distributions found in ``details`` (a mapping of numbers to counts, or a list of numeric samples)
become histograms, and the remaining details a collapsed JSON block. A part that cannot be drawn
says so in its place; it never takes the report (or its verdict) down with it.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from splitbrain.reports.run import RunData
from splitbrain.reports.svg import Scale, tick_label
from splitbrain.reports.text import short, verdict_word
from splitbrain.reports.timeline import Timeline, anomaly_timeline, linearizability_timeline

MAX_ANOMALIES = 500      # listed per checker (all are counted)
MAX_TIMELINES = 12       # drawn per checker; the first of each anomaly type come first
MAX_KEY_ROWS = 200
MAX_DETAILS_CHARS = 20_000
VERDICT_RANK = {"invalid": 0, "unknown": 1, "valid": 2}
_SHOWN_FIELDS = {"type", "ops", "explanation", "checker", "linearization", "candidates",
                 "last_state", "op"}


@dataclass
class AnomalyView:
    number: int
    type: str
    explanation: str
    ops: list[int]
    fields: list[tuple[str, str]]
    timeline: Timeline | None = None
    problem: str = ""


@dataclass
class Histogram:
    """A distribution as bars: ``bars`` are (x, y, width, height, label, count) in pixels."""

    name: str
    width: int
    height: int
    bars: list[tuple[float, float, float, float, str, float]]
    y_ticks: list[tuple[float, str]]
    total: float


@dataclass
class Section:
    name: str
    verdict: str
    reason: str
    stats: list[tuple[str, str]]
    anomalies: list[AnomalyView] = field(default_factory=list)
    anomaly_total: int = 0
    type_counts: list[tuple[str, int]] = field(default_factory=list)
    keys: list[dict[str, Any]] = field(default_factory=list)
    keys_total: int = 0
    histograms: list[Histogram] = field(default_factory=list)
    details_json: str = ""

    @property
    def anchor(self) -> str:
        return "checker-" + "".join(c if c.isalnum() else "-" for c in self.name)


def flatten(d: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested dicts as dotted keys; other values as they are."""
    if not isinstance(d, dict):
        return [(prefix, d)]
    out: list[tuple[str, Any]] = []
    for k, v in d.items():
        name = f"{prefix}.{k}" if prefix else str(k)
        out.extend(flatten(v, name) if isinstance(v, dict) and v else [(name, v)])
    return out


def _stat_text(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return short(v, 120)


def _number(x: Any) -> float | None:
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _as_distribution(v: Any) -> list[tuple[str, float]] | None:
    """(label, count) bars when ``v`` looks like a distribution: a mapping of numeric labels
    to counts, or at least five numeric samples (binned)."""
    if isinstance(v, dict) and len(v) >= 2:
        pairs = [(_number(k), _number(c)) for k, c in v.items()]
        if all(k is not None and c is not None for k, c in pairs):
            return [(tick_label(k), c) for k, c in sorted(pairs)]
    if isinstance(v, list) and len(v) >= 5 and all(_number(x) is not None
                                                   and not isinstance(x, bool) for x in v):
        xs = sorted(float(x) for x in v)
        if xs[0] == xs[-1]:
            return [(tick_label(xs[0]), float(len(xs)))]
        bins = min(30, len(set(xs)))
        w = (xs[-1] - xs[0]) / bins
        counts = Counter(min(int((x - xs[0]) / w), bins - 1) for x in xs)
        return [(tick_label(round(xs[0] + i * w, 6)), float(counts.get(i, 0))) for i in range(bins)]
    return None


def histogram(name: str, bars: list[tuple[str, float]], width: int = 460,
              height: int = 170) -> Histogram:
    left, bottom, top = 48, 30, 10
    top_count = max(c for _, c in bars) or 1.0
    ys = Scale(0, top_count, height - bottom, top)
    bw = (width - left - 8) / len(bars)
    out = [(round(left + i * bw + 1, 1), ys(c), round(max(bw - 2, 1), 1),
            round(height - bottom - ys(c), 1), label, c) for i, (label, c) in enumerate(bars)]
    return Histogram(name, width, height, out, [(ys(t), tick_label(t)) for t in ys.ticks(4)],
                     sum(c for _, c in bars))


def _distributions(details: dict[str, Any]) -> tuple[list[Histogram], dict[str, Any]]:
    """Histograms for the distributions in ``details`` (up to two levels deep), and what is
    left."""
    hists, rest = [], {}
    for k, v in details.items():
        bars = _as_distribution(v)
        if bars:
            hists.append(histogram(str(k), bars))
        elif isinstance(v, dict) and any(_as_distribution(x) for x in v.values()):
            for k2, v2 in v.items():
                bars2 = _as_distribution(v2)
                if bars2:
                    hists.append(histogram(f"{k}.{k2}", bars2))
                else:
                    rest.setdefault(k, {})[k2] = v2
        else:
            rest[k] = v
    return hists, rest


def _anomaly_view(run: RunData, n: int, a: dict[str, Any], draw: bool) -> AnomalyView:
    ops = [i for i in a.get("ops") or [] if isinstance(i, int)]
    fields = [(k, short(v, 200)) for k, v in a.items() if k not in _SHOWN_FIELDS]
    view = AnomalyView(n, str(a.get("type", "anomaly")), str(a.get("explanation", "")), ops,
                       fields)
    if draw:
        try:
            if a.get("type") == "nonlinearizable" or "linearization" in a:
                view.timeline = linearizability_timeline(run, a)
            else:
                view.timeline = anomaly_timeline(run, a)
        except Exception as e:  # a malformed anomaly must not hide the verdict
            view.problem = f"The timeline could not be drawn ({type(e).__name__}: {e})."
    return view


def _keys(details: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """Per-key verdicts (linearizability's ``details.keys``): invalid and unknown keys first."""
    keys = details.get("keys")
    if not isinstance(keys, dict) or not all(isinstance(v, dict) for v in keys.values()):
        return [], 0
    rows = sorted(({"key": short(k, 60), "verdict": verdict_word(v.get("valid")),
                    "ops": v.get("ops", ""),
                    "seconds": f"{v['seconds']:.3g}" if _number(v.get("seconds")) is not None
                    else "", "reason": short(v.get("reason") or "", 160)}
                   for k, v in keys.items()),
                  key=lambda r: (VERDICT_RANK[r["verdict"]], r["key"]))
    return rows[:MAX_KEY_ROWS], len(rows)


def type_counts(result: dict[str, Any]) -> list[tuple[str, int]]:
    """How many anomalies of each type a result found, most frequent first: the exact counts in
    ``stats.anomaly_counts`` (checkers keep only the first ones of each type) or else the listed
    anomalies counted."""
    stats = result.get("stats") if isinstance(result.get("stats"), dict) else {}
    exact = stats.get("anomaly_counts") if isinstance(stats.get("anomaly_counts"), dict) else {}
    counts = Counter({str(k): int(v) for k, v in exact.items() if _number(v) is not None})
    listed = Counter(str(a.get("type", "anomaly")) for a in result.get("anomalies") or []
                     if isinstance(a, dict))
    for t, c in listed.items():
        counts[t] = max(counts[t], c)
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def section(run: RunData, name: str, result: dict[str, Any]) -> Section:
    """The view of one checker's ``Result.to_dict()``."""
    stats = result.get("stats") if isinstance(result.get("stats"), dict) else {}
    anomalies = [a for a in result.get("anomalies") or [] if isinstance(a, dict)]
    counts = type_counts(result)

    # Timelines go first to one anomaly of each type, then to the rest in order.
    firsts = {id(a) for a in {str(a.get("type")): a for a in reversed(anomalies)}.values()}
    order = sorted(range(len(anomalies)), key=lambda i: (id(anomalies[i]) not in firsts, i))
    drawn = set(order[:MAX_TIMELINES])
    views = [_anomaly_view(run, i + 1, a, i in drawn)
             for i, a in enumerate(anomalies[:MAX_ANOMALIES])]

    details = result.get("details") if isinstance(result.get("details"), dict) else {}
    keys, keys_total = _keys(details)
    hists, rest = _distributions({k: v for k, v in details.items() if k != "keys" or not keys})
    text = json.dumps(rest, indent=1, default=str, ensure_ascii=False) if rest else ""
    if len(text) > MAX_DETAILS_CHARS:
        text = text[:MAX_DETAILS_CHARS] + "\n… (cut; the whole result is in results.json)"
    return Section(
        name=name, verdict=verdict_word(result.get("valid")), reason=str(result.get("reason") or ""),
        stats=[(k, _stat_text(v)) for k, v in flatten(stats) if not k.startswith("anomaly_counts")],
        anomalies=views, anomaly_total=max(sum(n for _, n in counts), len(anomalies)),
        type_counts=counts,
        keys=keys, keys_total=keys_total, histograms=hists, details_json=text)


def sections(run: RunData) -> list[Section]:
    """A section per checker, invalid ones first, then unknown, then valid."""
    out = [section(run, name, r if isinstance(r, dict) else {"valid": "unknown"})
           for name, r in run.checker_results.items()]
    return sorted(out, key=lambda s: VERDICT_RANK[s.verdict])
