"""Staleness of eventual reads, measured as in the PBS paper, beside its prediction.

History shape: register ops where versions are totally ordered: ok writes (``f="write"`` or
``"cas"``) carry their version on completion, ok reads the version of what they returned, as
``meta.version`` (dynamodb, the log position) or ``meta.ts`` (lww, the timestamp). A read
without a version is looked up by value among the writes; an empty read is the initial version.
Which reads count: ``consistency="eventual"`` (the default) takes reads recorded as eventual or
without a consistency; ``None`` takes all. Final reads (``meta.final``) are left out: they
measure convergence, not staleness.

For an ok read R of key K, the versions acknowledged before R began are the ok writes of K that
returned before R's invocation:

* k-staleness: how many of them are newer than what R returned (0 = fresh). Each read with
  k > 0 is a ``stale-read`` anomaly (permitted unless ``--expect no-stale-reads``);
* t-visibility: with W* the newest of them, t = R's start - W*'s acknowledgement; R sees W* when
  it returned W*'s version or a newer one. ``details.t_visibility`` gives P(sees | t) per bin.

With ``n``, ``r`` and ``w`` given, ``details.pbs`` puts the prediction beside each: the closed
form for k-staleness, the WARS Monte Carlo for t-visibility (see :mod:`splitbrain.checkers.pbs`),
its message latencies drawn from half the measured round trips of the eventual reads.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from typing import Any

from splitbrain.checkers import pbs
from splitbrain.checkers.anomalies import AnomalyLog
from splitbrain.checkers.keyed import (by_key, client_ops, is_final, ms, read_values,
                                       read_version, show, version, versions_by_value,
                                       written_value)
from splitbrain.checkers.result import Result
from splitbrain.history import History, Op

NAME = "staleness"
ANOMALIES = ("stale-read",)
#: Upper edges (ms) of the t-visibility bins; the last bin is open.
T_BINS_MS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)


class _Counts:
    """A Fenwick tree over version ranks: how many inserted versions are above a rank."""

    def __init__(self, size: int):
        self.tree = [0] * (size + 1)
        self.total = 0

    def insert(self, rank: int) -> None:
        self.total += 1
        i = rank + 1
        while i < len(self.tree):
            self.tree[i] += 1
            i += i & -i

    def above(self, count_at_or_below: int) -> int:
        """Inserted versions whose rank is >= ``count_at_or_below``."""
        s, i = 0, count_at_or_below
        while i > 0:
            s += self.tree[i]
            i -= i & -i
        return self.total - s


def check(history: History | list[Op], *, consistency: str | None = "eventual",
          n: int | None = None, r: int | None = None, w: int | None = None,
          limit: int = 1000, trials: int = 4000) -> Result:
    """Measure k-staleness and t-visibility of the chosen reads (and predict them when ``n``,
    ``r`` and ``w`` are given)."""
    log = AnomalyLog(limit)
    ks: dict[int, int] = {}
    bins = [[0, 0] for _ in range(len(T_BINS_MS) + 1)]  # [reads, fresh]
    round_trips: list[float] = []
    unversioned = 0
    for key, ops in by_key(client_ops(history), ("read", "write", "cas")).items():
        by_value = versions_by_value(ops)
        acked = sorted(((op.ret, version(op), op) for op in ops if op.type == "ok"
                        and (op.f == "write" or op.f == "cas") and version(op) is not None),
                       key=lambda a: a[0])
        versions = sorted({v for _, v, _ in acked})
        counts = _Counts(len(versions))
        i, newest, newest_v = 0, None, -math.inf
        for rd in ops:
            if rd.f != "read" or not rd.ok or is_final(rd):
                continue
            if consistency is not None and rd.consistency not in (consistency, None):
                continue
            while i < len(acked) and acked[i][0] < rd.call:
                _, v, op = acked[i]
                counts.insert(bisect_right(versions, v) - 1)
                if newest is None or v > newest_v:
                    newest, newest_v = op, v
                i += 1
            seen = read_version(rd, by_value)
            if seen is None:
                unversioned += 1
                continue
            round_trips.append(rd.ret - rd.call)
            k = counts.above(bisect_right(versions, seen))
            ks[k] = ks.get(k, 0) + 1
            if newest is None:
                continue
            t = rd.call - newest.ret
            b = bisect_right(T_BINS_MS, t / 1e6)
            bins[b][0] += 1
            if k == 0:
                bins[b][1] += 1
            else:
                log.add("stale-read", [rd.index, newest.index],
                        f"Read of key {key!r} (op {rd.index}) returned {show(read_values(rd))}, "
                        f"{k} acknowledged version(s) behind: the write of "
                        f"{show([written_value(newest)])} (op {newest.index}) was acknowledged "
                        f"{ms(t)} ms before the read began.", key=key, k=k, t_ms=ms(t),
                        version=seen if seen > -math.inf else None, newest_version=newest_v,
                        consistency=rd.consistency)
    measured = sum(ks.values())
    stale = measured - ks.get(0, 0)
    details: dict[str, Any] = {
        "k_staleness": {"histogram": {str(k): c for k, c in sorted(ks.items())},
                        "p_at_least": _at_least(ks)},
        "t_visibility": _t_rows(bins),
    }
    if n and r and w and measured:
        details["pbs"] = _prediction(n, r, w, ks, details["t_visibility"], round_trips, trials)
    stats = {"reads": measured, "stale_reads": stale,
             "stale_fraction": round(stale / measured, 6) if measured else 0.0,
             "max_k": max(ks) if ks else 0, "reads_without_version": unversioned,
             **log.stats()}
    return Result(True, log.items, stats, details=details, checker=NAME)


def _at_least(ks: dict[int, int]) -> list[float]:
    total = sum(ks.values())
    if not total:
        return []
    out, tail = [], total
    for k in range(max(ks) + 1):
        out.append(round(tail / total, 6))
        tail -= ks.get(k, 0)
    return out


def _t_rows(bins: list[list[int]]) -> list[dict[str, Any]]:
    rows, lo = [], 0
    for (reads, fresh), hi in zip(bins, (*T_BINS_MS, None)):
        if reads:
            rows.append({"t_ms_from": lo, "t_ms_to": hi, "reads": reads, "fresh": fresh,
                         "p_visible": round(fresh / reads, 6)})
        lo = hi
    return rows


def _prediction(n: int, r: int, w: int, ks: dict[int, int], rows: list[dict[str, Any]],
                round_trips: list[float], trials: int) -> dict[str, Any]:
    one_way = [rt / 2 for rt in round_trips]
    # Predict at each bin's midpoint (the open last bin at its lower edge).
    ts = [((row["t_ms_from"] + row["t_ms_to"]) / 2 if row["t_ms_to"] else row["t_ms_from"]) * 1e6
          for row in rows]
    predicted = pbs.t_visibility(n, r, w, one_way, ts, trials=trials) if one_way else []
    return {
        "n": n, "r": r, "w": w,
        "k_staleness_method": "closed form (C(N-W,R)/C(N,R))^k, PBS section 3: an upper bound "
                              "that ignores propagation after the write returns",
        "k_staleness_p_at_least": [round(p, 6) for p in pbs.k_staleness(n, r, w, max(ks))],
        "t_visibility_method": f"WARS Monte Carlo, PBS section 4, {trials} trials per t, every "
                               f"message latency drawn from half the measured eventual-read "
                               f"round trips ({len(one_way)} samples)",
        "t_visibility": [{"t_ms": round(t / 1e6, 3), "p_visible": round(p, 6)}
                         for t, p in zip(ts, predicted)],
    }
