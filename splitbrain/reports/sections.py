"""One report section per checker: its verdict, its stats, every anomaly with its explanation
and a timeline of the ops it names, per-key verdicts, and the figures in its details.

Checkers this module knows nothing about still render: anomalies become a list with timelines,
stats and details become facts, charts and tables by their shape (:mod:`figures`), the rest a
collapsed JSON block. A part that cannot be drawn says so in its place; it never takes the
report (or its verdict) down with it.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from splitbrain.reports.figures import Figures, cell, figures, number
from splitbrain.reports.run import RunData, anomaly_ops
from splitbrain.reports.staleness import measured_vs_predicted
from splitbrain.reports.text import short, verdict_word
from splitbrain.reports.timeline import Timeline, anomaly_timeline, linearizability_timeline

MAX_ANOMALIES = 5000     # listed per checker (all are counted; checkers keep 1000 of each type)
MAX_TIMELINES = 12       # drawn per checker; the first of each anomaly type come first
MAX_KEY_ROWS = 200
MAX_DETAILS_CHARS = 20_000
_COUNTED = {"anomaly_counts", "anomalies_kept"}  # shown as the anomaly table instead
VERDICT_RANK = {"invalid": 0, "unknown": 1, "valid": 2}
_SHOWN_FIELDS = {"type", "ops", "explanation", "checker", "linearization", "candidates",
                 "last_state", "op", "prefix_length"}


@dataclass
class AnomalyView:
    number: int
    type: str
    explanation: str
    ops: list[int]
    fields: list[tuple[str, str]]
    severity: str = ""      # the policy's: violation | permitted ("" without a policy)
    timeline: Timeline | None = None
    problem: str = ""


@dataclass
class Section:
    name: str
    verdict: str
    reason: str
    note: str
    stats: Figures
    details: Figures
    anomalies: list[AnomalyView] = field(default_factory=list)
    anomaly_total: int = 0
    type_counts: list[tuple[str, int]] = field(default_factory=list)
    keys: list[dict[str, Any]] = field(default_factory=list)
    keys_total: int = 0
    details_json: str = ""

    @property
    def anchor(self) -> str:
        return "checker-" + "".join(c if c.isalnum() else "-" for c in self.name)


def _anomaly_view(run: RunData, n: int, a: dict[str, Any], draw: bool,
                  severity: str) -> AnomalyView:
    ops = anomaly_ops(a)
    fields = [(k, short(v, 200)) for k, v in a.items() if k not in _SHOWN_FIELDS]
    view = AnomalyView(n, str(a.get("type", "anomaly")), str(a.get("explanation", "")), ops,
                       fields, severity)
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
                    "seconds": cell(v.get("seconds", "")), "reason": short(v.get("reason") or "", 160)}
                   for k, v in keys.items()),
                  key=lambda r: (VERDICT_RANK[r["verdict"]], r["key"]))
    return rows[:MAX_KEY_ROWS], len(rows)


def type_counts(result: dict[str, Any]) -> list[tuple[str, int]]:
    """How many anomalies of each type a result found, most frequent first: the exact counts in
    ``stats.anomaly_counts`` (checkers keep only the first ones of each type) or else the listed
    anomalies counted."""
    stats = result.get("stats") if isinstance(result.get("stats"), dict) else {}
    exact = stats.get("anomaly_counts") if isinstance(stats.get("anomaly_counts"), dict) else {}
    counts = Counter({str(k): int(v) for k, v in exact.items() if number(v) is not None})
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
    severities = run.severities.get(name, [])
    views = [_anomaly_view(run, i + 1, a, i in drawn,
                           severities[i] if i < len(severities) else "")
             for i, a in enumerate(anomalies[:MAX_ANOMALIES])]

    details = result.get("details") if isinstance(result.get("details"), dict) else {}
    keys, keys_total = _keys(details)
    compared, details = measured_vs_predicted(details)
    shown = figures({k: v for k, v in details.items() if k != "keys" or not keys})
    shown.tables[:0] = compared
    text = json.dumps(shown.rest, indent=1, default=str, ensure_ascii=False) if shown.rest else ""
    if len(text) > MAX_DETAILS_CHARS:
        text = text[:MAX_DETAILS_CHARS] + "\n… (cut; the whole result is in results.json)"
    verdict, own = verdict_word(run.checker_valid(name)), verdict_word(result.get("valid"))
    return Section(
        name=name, verdict=verdict, reason=str(result.get("reason") or ""),
        note=(f"The checker itself said {own}, but every anomaly it found is one this mode "
              f"permits, so it does not fail the run." if own == "invalid" != verdict else ""),
        stats=figures({k: v for k, v in stats.items() if k not in _COUNTED}), details=shown,
        anomalies=views, anomaly_total=max(sum(n for _, n in counts), len(anomalies)),
        type_counts=counts,
        keys=keys, keys_total=keys_total, details_json=text)


def sections(run: RunData) -> list[Section]:
    """A section per checker, invalid ones first, then unknown, then valid."""
    out = [section(run, name, r if isinstance(r, dict) else {"valid": "unknown"})
           for name, r in run.checker_results.items()]
    return sorted(out, key=lambda s: VERDICT_RANK[s.verdict])
