"""Collecting anomalies: every checker counts all of them and keeps the first ``limit`` of each
type, so a million-op history with a hundred thousand stale reads still gives an exact count and
a report-sized list."""

from __future__ import annotations

from typing import Any

#: How many anomalies of one type a checker keeps by default (all are counted).
DEFAULT_LIMIT = 1000


class AnomalyLog:
    """Anomalies of one checker: :meth:`add` records one, :attr:`counts` has the exact number of
    each type, :attr:`strong` the exact number of each type on ``consistency="strong"`` ops
    (which the verdict policy may judge more strictly), :attr:`items` the kept ones (at most
    ``limit`` per type)."""

    def __init__(self, limit: int = DEFAULT_LIMIT):
        self.limit = limit
        self.items: list[dict[str, Any]] = []
        self.counts: dict[str, int] = {}
        self.strong: dict[str, int] = {}

    def add(self, type: str, ops: list[int], explanation: str, **fields: Any) -> None:
        n = self.counts.get(type, 0)
        self.counts[type] = n + 1
        if fields.get("consistency") == "strong":
            self.strong[type] = self.strong.get(type, 0) + 1
        if n < self.limit:
            self.items.append({"type": type, "ops": ops, "explanation": explanation, **fields})

    def count(self, *types: str) -> int:
        return sum(self.counts.get(t, 0) for t in types)

    def stats(self) -> dict[str, Any]:
        """``anomaly_counts`` (exact, per type), ``anomalies_kept``, and when any anomaly was on
        a strong op ``strong_anomaly_counts`` (exact, per type) for a Result's stats;
        :func:`splitbrain.checkers.policy.verdict` reads the counts."""
        out: dict[str, Any] = {"anomaly_counts": dict(self.counts),
                               "anomalies_kept": len(self.items)}
        if self.strong:
            out["strong_anomaly_counts"] = dict(self.strong)
        return out
