"""Histories for the eventual checkers' tests and benchmark: a builder for small hand-made ones
and a generator of large, realistic ones (shapes as the harness records them, see
splitbrain/checkers/keyed.py)."""

from __future__ import annotations

import bisect
import heapq
import math
import random
from typing import Any

from splitbrain.db import versions
from splitbrain.history import Event, History, validate

MS = 1_000_000


class Builder:
    """Add ops with explicit invocation/completion times (ms); :meth:`history` sorts the events
    by time and validates them."""

    def __init__(self) -> None:
        self._events: list[tuple[float, int, Event]] = []
        self._seq = 0

    def _push(self, t: float, ev: Event) -> None:
        self._events.append((t, self._seq, ev))
        self._seq += 1

    def op(self, process: Any, f: str, value: Any = None, *, t0: float, t1: float,
           type: str = "ok", output: Any = "same", key: Any = "k", node: str | None = None,
           consistency: str | None = None, meta: dict | None = None,
           inv_meta: dict | None = None, error: str | None = None) -> int:
        """One op; returns the invocation's position (its index once sorted, when ops are added
        in invocation order). ``output="same"`` echoes ``value`` (as writes do)."""
        self._push(t0, Event("invoke", process, f, value, int(t0 * MS), key=key, node=node,
                             consistency=consistency, meta=inv_meta))
        out = value if output == "same" else output
        self._push(t1, Event(type, process, f, out if type == "ok" else None, int(t1 * MS),
                             key=key, node=node, consistency=consistency, meta=meta,
                             error=error))
        return self._seq - 2

    def nemesis(self, f: str, t0: float, t1: float, value: Any = None) -> None:
        self._push(t0, Event("info", "nemesis", f, value, int(t0 * MS)))
        self._push(t1, Event("info", "nemesis", f, value, int(t1 * MS)))

    def history(self) -> History:
        events = [ev for _, _, ev in sorted(self._events, key=lambda e: (e[0], e[1]))]
        for ev in events:
            ev.index = -1
        return History(validate(events))


def index_of(h: History, f: str, *, value: Any = "any", process: Any = "any", nth: int = 0) -> int:
    """The invocation index of the ``nth`` op matching ``f`` (and ``value``/``process``)."""
    found = [op.index for op in h.ops(include_nemesis=True) if op.f == f
             and (value == "any" or op.value == value) and (process == "any" or op.process == process)]
    return found[nth]


# --- Large generated histories ---------------------------------------------------------------

NODES = ("n1", "n2", "n3")


class _Schedule:
    """Ops of ``concurrency`` sequential processes with random latencies; ``info`` completions
    move a worker to a new process id, as the harness does."""

    def __init__(self, rng: random.Random, concurrency: int):
        self.rng = rng
        self.concurrency = concurrency
        self.free = [(rng.uniform(0, 2 * MS), w) for w in range(concurrency)]
        heapq.heapify(self.free)
        self.proc = list(range(concurrency))

    def next(self) -> tuple[int, int, float, float]:
        """(worker, process, call, ret) of the worker that is free soonest."""
        clock, w = heapq.heappop(self.free)
        call = clock + self.rng.uniform(0, 0.2 * MS)
        ret = call + self.rng.expovariate(1 / (2 * MS)) + 0.1 * MS
        heapq.heappush(self.free, (ret, w))
        return w, self.proc[w], call, ret

    def crashed(self, w: int) -> None:
        self.proc[w] += self.concurrency


class _Versions:
    """A key's applied writes in apply order: (time, rank, value, meta) with rank the LWW order
    (ts, coordinator, packed value) or log order (version); ``at(t)`` is the winning write
    applied by time t."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.best: list[tuple[Any, Any, dict]] = []

    def apply(self, t: float, rank: Any, value: Any, meta: dict) -> None:
        cur = self.best[-1] if self.best else None
        self.times.append(t)
        self.best.append((rank, value, meta) if cur is None or rank > cur[0] else cur)

    def at(self, t: float) -> tuple[Any, Any, dict] | None:
        i = bisect.bisect_right(self.times, t)
        return self.best[i - 1] if i else None


def generate(kind: str, ops: int, *, seed: int = 0, concurrency: int = 20,
             ops_per_key: int = 100, lag_ms: float = 3.0,
             ts_resolution: float | None = None) -> History:
    """A history of about ``ops`` client ops of ``kind``: ``lww``, ``dynamodb`` or ``dynamo``
    (register), ``set`` or ``counter``. Eventual reads see a replica ``lag_ms`` behind (a third
    of the time), lww coordinators' clocks are skewed by up to 5 ms, one op in 200 is info;
    every history ends with one final read per key per node. ``ts_resolution`` (seconds)
    truncates lww timestamps to a coarse clock's ticks, so that writes tie; the simulated store
    then breaks ties as the lww mode does (coordinator, then value)."""
    rng = random.Random(seed)
    sched = _Schedule(rng, concurrency)
    plan: list[list] = []  # [call, ret, process, f, key, value, type, node, consistency]
    keys_n = max(1, ops // ops_per_key) if kind not in ("counter",) else 1
    written: dict[Any, int] = {}
    for _ in range(ops):
        w, p, call, ret = sched.next()
        key = f"k{rng.randrange(keys_n)}"
        roll = rng.random()
        if kind == "counter":
            f, value = ("read", None) if roll < 0.2 else ("add", rng.randint(1, 5))
        elif kind == "set":
            f, value = ("read", None) if roll < 0.1 else ("add", len(plan))
        else:
            f, value = ("read", None) if roll < 0.5 else ("write", written.get(key, 0) + 1)
            if f == "write":
                written[key] = value
        type_ = "info" if f != "read" and rng.random() < 0.005 else "ok"
        if type_ == "info":
            sched.crashed(w)
        consistency = None
        if f == "read":
            consistency = rng.choice(("strong", "eventual")) if kind == "dynamodb" else "eventual"
        plan.append([call, ret, p, f, key, value, type_, rng.choice(NODES), consistency, None])
    end = max(p[1] for p in plan) + 100 * MS
    final_keys = sorted({p[4] for p in plan})
    for i, node in enumerate(NODES):
        for j, key in enumerate(final_keys):
            t = end + (i * len(final_keys) + j) * 0.01 * MS
            plan.append([t, t + 0.005 * MS, 10**6 + i, "read", key, None, "ok", node,
                         "eventual", {"final": True}])
    _simulate(kind, plan, rng, lag_ms * MS, ts_resolution)
    return _events(plan)


def _simulate(kind: str, plan: list[list], rng: random.Random, lag: float,
              ts_resolution: float | None = None) -> None:
    """Fill in outputs and meta: writes apply at their return (info ones half the time)."""
    skew = {n: rng.uniform(-5, 5) * MS for n in NODES}
    state: dict[Any, _Versions] = {}
    siblings: dict[Any, list] = {}
    logs: dict[Any, list] = {}
    by_time = sorted(range(len(plan)), key=lambda i: plan[i][1] if plan[i][3] != "read"
                     else (plan[i][0] + plan[i][1]) / 2)
    version = 0
    for i in by_time:
        call, ret, _, f, key, value, type_, node, consistency, meta = plan[i]
        applies = type_ == "ok" or rng.random() < 0.5
        vs = state.setdefault(key, _Versions())
        t = ret if f != "read" else (call + ret) / 2
        if meta and meta.get("final"):
            lagging = False
        else:
            lagging = consistency == "eventual" and rng.random() < 1 / 3
        seen_at = t - lag if lagging else t
        if kind == "dynamo":
            sibs = siblings.setdefault(key, [])
            if f == "read":
                plan[i][5] = list(sibs)
                plan[i][9] = {**(meta or {}), "siblings": True, "context": f"c{len(sibs)}"}
            else:
                read = list(sibs) if rng.random() < 0.9 else []
                if applies:
                    siblings[key] = [v for v in sibs if v not in read] + [value]
                plan[i][9] = {"read": read, "siblings": True}
            continue
        if kind in ("counter", "set"):
            # Append-only: [apply times, running totals (counter) or elements (set)].
            log = logs.setdefault(key, [[], []])
            if f == "read":
                j = bisect.bisect_right(log[0], seen_at)
                if kind == "counter":
                    plan[i][5] = log[1][j - 1] if j else 0
                else:
                    plan[i][5] = sorted(log[1][:j])
            elif applies:
                log[0].append(t)
                log[1].append(value if kind == "set" else
                              (log[1][-1] if log[1] else 0) + value)
            continue
        if f == "read":
            cur = vs.at(seen_at)
            plan[i][5] = cur[1] if cur else None
            plan[i][9] = {**(meta or {}), **(cur[2] if cur else {})}
            continue
        version += 1
        if kind == "lww":
            ts = round((t + skew[node]) / 1e9, 9)
            if ts_resolution:
                ts = math.floor(ts / ts_resolution) * ts_resolution
            m, rank = {"ts": ts}, (ts, node, versions.pack(value))
        else:
            m, rank = {"version": version}, version
        if applies:
            vs.apply(t, rank, value, m)
        plan[i][9] = m


def _events(plan: list[list]) -> History:
    events: list[tuple[float, int, Event]] = []
    for n, (call, ret, p, f, key, value, type_, node, consistency, meta) in enumerate(plan):
        inv_value = value if f != "read" else None
        inv_meta = {"final": True} if meta and meta.get("final") else None
        events.append((call, 2 * n, Event("invoke", p, f, inv_value, int(call), key=key,
                                          node=node, consistency=consistency, meta=inv_meta)))
        out = value if type_ == "ok" else None
        events.append((ret, 2 * n + 1, Event(type_, p, f, out, int(ret), key=key, node=node,
                                             consistency=consistency, meta=meta)))
    events.sort(key=lambda e: (e[0], e[1]))
    return History(validate([e[2] for e in events]))
