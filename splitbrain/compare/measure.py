"""What one stored run measured, as the comparison table's column: every figure is read from the
run's own ``history.jsonl`` and ``results.json``, and a figure no checker of the run produced is
a :class:`Cell` with no value and the reason, never a zero.

Definitions (the table's footnotes repeat them):

* *acknowledged writes*: ok client ops other than reads (writes, conditional writes, adds);
  final reads (``meta.final``) are never counted as client ops.
* *lost*: ``lost-write`` (lww, dynamo register), ``lost`` (set), and for dynamodb register the
  linearizability verdict (a linearizable history lost no acknowledged write).
* *available*: ops the store answered (ok, or a definite answer about the data such as a false
  condition, :data:`splitbrain.checkers.availability.ANSWERS`) over ops attempted.
* *majority / minority side*: during a partition, an op counts on the majority side when the
  node it was sent to could reach a strict majority of the nodes directly (itself included).
"""

from __future__ import annotations

import json
import math
from bisect import bisect_left
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from splitbrain.checkers import pbs
from splitbrain.checkers.availability import ANSWERS
from splitbrain.checkers.linearizable.models import freeze
from splitbrain.harness import store
from splitbrain.history import NEMESIS, Op, pair

#: The anomaly types that mean an acknowledged write is gone, by workload.
LOST_TYPES = {"register": ("lost-write",), "set": ("lost",),
              "counter": ("counter-too-low", "counter-lost-adds")}
#: Anomaly types that are about reads being old, whichever checker found them.
STALE_TYPES = ("stale-read", "counter-too-low")


@dataclass(frozen=True)
class Cell:
    """One measured figure: ``value`` (a number, a bool, or None when not measured) and the
    ``text`` the table shows (which says why when there is no value)."""

    value: Any
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "text": self.text}


def missing(why: str) -> Cell:
    return Cell(None, f"— ({why})")


def pct(part: float, whole: float) -> str:
    return f"{part / whole:.1%}" if whole else "n/a"


@dataclass
class RunFacts:
    """A stored run, loaded: its test record, composed verdict and paired ops."""

    run_dir: Path
    test: dict[str, Any]
    results: dict[str, Any]
    ops: list[Op]
    nemesis: list[Op]

    @classmethod
    def load(cls, run_dir: str | Path) -> "RunFacts":
        run_dir = Path(run_dir)
        test = store.load_test(run_dir)
        results = json.loads((run_dir / store.RESULTS_FILE).read_text())
        events = store.load_history(run_dir).events
        return cls(run_dir, test, results, pair(events),
                   [op for op in pair(events, include_nemesis=True) if op.process == NEMESIS])

    @property
    def mode(self) -> str:
        return self.test["options"]["mode"]

    @property
    def workload(self) -> str:
        return self.test["options"]["workload"]

    def checker(self, name: str) -> dict[str, Any] | None:
        """A checker's stored result (a dict), or None when it did not run."""
        return self.results.get("details", {}).get("results", {}).get(name)

    def counts(self) -> dict[str, int]:
        """Exact anomaly counts by type over every checker but linearizability (which counts
        no types), from each checker's own stats."""
        out: dict[str, int] = {}
        for name, r in self.results.get("details", {}).get("results", {}).items():
            for t, n in (r.get("stats", {}).get("anomaly_counts") or {}).items():
                out[t] = out.get(t, 0) + n
        return out

    def client_ops(self) -> list[Op]:
        return [op for op in self.ops if not (op.meta and op.meta.get("final"))]


def measure(run_dir: str | Path) -> dict[str, Cell]:
    """Every measured row of the comparison for the run stored in ``run_dir``."""
    run = RunFacts.load(run_dir)
    ops = run.client_ops()
    writes = [op for op in ops if op.f != "read"]
    acked = sum(op.ok for op in writes)
    counts = run.counts()
    out: dict[str, Cell] = {"acknowledged_writes": Cell(acked, f"{acked:,} of {len(writes):,}")}
    out["lost_writes"] = _lost(run, counts, acked)
    out["lost_updates"] = _lost_updates(run, counts)
    out["siblings"] = _siblings(ops, acked)
    out["stale_eventual"], out["stale_strong"] = _stale(run, counts)
    out["read_your_writes"], out["monotonic_reads"] = _session(run)
    out["linearizable"] = _linearizable(run)
    out.update(_availability(run, ops))
    out["converged"] = _converged(run, counts)
    out.update(_latency(ops))
    total = sum(n for t, n in counts.items())
    out["anomalies_per_1000"] = Cell(round(1000 * total / len(ops), 2) if ops else None,
                                     f"{1000 * total / len(ops):.1f}" if ops else "n/a")
    out["k_staleness"] = _k_staleness(run)
    return out


def _lost(run: RunFacts, counts: dict[str, int], acked: int) -> Cell:
    types = LOST_TYPES.get(run.workload, ())
    judged_by = [name for name in ("lww", "siblings", "set", "counter") if run.checker(name)]
    if run.mode == "dynamodb" and run.workload == "register":
        lin = run.checker("linearizable")
        if lin is None:
            return missing("linearizability not checked")
        if lin.get("valid") is True:
            return Cell(0, "0 (linearizable)")
        return missing("linearizability " + ("violated" if lin.get("valid") is False
                                              else "unknown") + ": see the run's report")
    if not judged_by:
        return missing("no checker of this run counts lost writes")
    n = sum(counts.get(t, 0) for t in types)
    if run.workload == "counter":
        return Cell(n, f"{n:,} reads below the acknowledged adds")
    return Cell(n, f"{n:,} ({pct(n, acked)})")


def _lost_updates(run: RunFacts, counts: dict[str, int]) -> Cell:
    if run.checker("lww") is not None:
        n = counts.get("lost-update", 0)
        return Cell(n, f"{n:,}")
    if run.mode == "dynamodb" and run.workload == "register" and run.checker("linearizable"):
        valid = run.checker("linearizable").get("valid")  # type: ignore[union-attr]
        return Cell(0, "0 (conditional writes linearizable)") if valid is True else \
            missing("linearizability not valid: see the run's report")
    return missing("no checker of this run counts them")


def _siblings(ops: list[Op], acked: int) -> Cell:
    reads = [op for op in ops if op.f == "read" and op.ok]
    extra = sum(len(op.output) - 1 for op in reads
                if op.meta and op.meta.get("siblings") and isinstance(op.output, list)
                and len(op.output) > 1)
    if not reads:
        return missing("no ok reads")
    per = extra / acked if acked else 0.0
    return Cell(extra, f"{extra:,} ({per:.3f} per write)")


def _stale(run: RunFacts, counts: dict[str, int]) -> tuple[Cell, Cell]:
    st = run.checker("staleness")
    if st is not None:
        s = st["stats"]
        eventual = Cell(s.get("stale_reads", 0),
                        f"{s.get('stale_reads', 0):,} of {s.get('reads', 0):,} reads "
                        f"({pct(s.get('stale_reads', 0), s.get('reads', 0))})")
    elif run.checker("set") is not None or run.checker("counter") is not None:
        n = sum(counts.get(t, 0) for t in STALE_TYPES)
        eventual = Cell(n, f"{n:,}")
    elif run.mode == "dynamo" and run.workload == "register" and (
            counted := sibling_misses(run)):
        stale, reads = counted
        eventual = Cell(stale, f"{stale:,} of {reads:,} reads ({pct(stale, reads)}) missed an "
                               f"acknowledged write (causally)")
    else:
        eventual = missing("not measured by this mode and workload")
    if run.mode != "dynamodb":
        return eventual, missing("not offered")
    lin = run.checker("linearizable")
    if lin is None:
        return eventual, missing("linearizability not checked")
    if lin.get("valid") is True:
        return eventual, Cell(0, "0 (linearizable)")
    return eventual, missing(f"linearizability {lin.get('valid')}: see the run's report")


def _session(run: RunFacts) -> tuple[Cell, Cell]:
    s = run.checker("session")
    if s is None:
        why = "not checked by this workload (the register workload checks it)"
        return missing(why), missing(why)
    st = s["stats"]
    reads = st.get("reads", 0)
    return (Cell(st["read_your_writes"], f"{st['read_your_writes']:,} of {reads:,} reads"),
            Cell(st["monotonic_reads"], f"{st['monotonic_reads']:,} of {reads:,} reads"))


def _linearizable(run: RunFacts) -> Cell:
    if run.mode != "dynamodb":
        return missing("not offered")
    lin = run.checker("linearizable")
    if lin is None:
        return missing("not checked")
    word = {True: "yes", False: "NO"}.get(lin.get("valid"), "unknown")
    return Cell(lin.get("valid"), word)


def answered(op: Op) -> bool:
    return op.ok or op.error in ANSWERS


def _availability(run: RunFacts, ops: list[Op]) -> dict[str, Cell]:
    out = {"available": Cell(_fraction(ops), _fraction_text(ops))}
    av = run.checker("availability")
    by_fault = (av or {}).get("stats", {}).get("by_fault", {})
    for kind, row in by_fault.items():
        out[f"available_{kind}"] = Cell(row["available"], f"{row['available']:.1%} of "
                                                          f"{row['ops']:,}")
    sides = partition_sides(run.nemesis, run.test.get("nodes") or [])
    if sides:
        for side in ("majority", "minority"):
            mine = [op for op in ops if _side_at(sides, op) == side]
            out[f"available_partition_{side}"] = (Cell(_fraction(mine), _fraction_text(mine))
                                                  if mine else missing("no op on this side"))
    return out


def _fraction(ops: list[Op]) -> float | None:
    return round(sum(map(answered, ops)) / len(ops), 6) if ops else None


def _fraction_text(ops: list[Op]) -> str:
    return f"{sum(map(answered, ops)) / len(ops):.1%} of {len(ops):,}" if ops else "n/a"


Side = tuple[float, float, dict[str, str]]


def partition_sides(nemesis: list[Op], names: list[str]) -> list[Side]:
    """``(from, to, {node: "majority"|"minority"})`` for each partition in force: from the start
    op's invocation to the completion of the stop (``stop-partition`` or ``heal``) after it."""
    out: list[Side] = []
    start: Op | None = None
    for op in nemesis:
        if op.f == "start-partition" and op.type != "fail":
            start = op
        elif start is not None and op.f in ("stop-partition", "heal"):
            end = op.ret if op.ret != math.inf else op.call
            out.append((start.call, end, node_sides(start.value.get("cut", {}), names)))
            start = None
    if start is not None:
        out.append((start.call, math.inf, node_sides(start.value.get("cut", {}), names)))
    return out


def node_sides(cut: dict[str, list[str]], names: list[str]) -> dict[str, str]:
    """Each node's side of a partition given as its cut directed links: ``majority`` when it
    can reach a strict majority of ``names`` directly (itself included)."""
    dropped = {(a, b) for a, bs in cut.items() for b in bs}
    out = {}
    for a in names:
        reach = sum(1 for b in names if b == a or ((a, b) not in dropped
                                                   and (b, a) not in dropped))
        out[a] = "majority" if reach * 2 > len(names) else "minority"
    return out


def _side_at(sides: list[Side], op: Op) -> str | None:
    for lo, hi, by_node in sides:
        if lo <= op.call < hi:
            return by_node.get(op.node or "")
    return None


def _converged(run: RunFacts, counts: dict[str, int]) -> Cell:
    """The verdict's state of the mode's convergence promise (the checkers that compare every
    replica's final read), with the keys that did not converge."""
    promises = [p for p in run.results.get("details", {}).get("promises", [])
                if "converge" in p["text"]]
    if not promises:
        return missing("not checked by this run")
    states = {p["state"] for p in promises}
    if "violated" in states:
        n = counts.get("not-converged", 0)
        return Cell(False, f"NO ({n:,} {'key or element' if n == 1 else 'keys or elements'} "
                           f"differ)")
    if states != {"no violation found"}:
        return missing(next(p.get("note") or p["state"] for p in promises
                            if p["state"] != "no violation found"))
    recovery = run.test["options"].get("recovery")
    return Cell(True, f"yes, within {recovery:g} s of healing")


def _latency(ops: list[Op]) -> dict[str, Cell]:
    out = {}
    for label, pick in (("read", lambda op: op.f == "read"), ("write", lambda op: op.f != "read")):
        lat = sorted((op.ret - op.call) / 1e6 for op in ops if op.ok and pick(op))
        for q in (50, 99):
            name = f"latency_{label}_p{q}"
            if not lat:
                out[name] = missing(f"no ok {label}s")
                continue
            v = lat[min(len(lat) - 1, math.ceil(q / 100 * len(lat)) - 1)]
            out[name] = Cell(round(v, 3), f"{v:.1f} ms")
    ok = [op for op in ops if op.ok]
    if ok:
        span = (max(op.ret for op in ok) - min(op.call for op in ops)) / 1e9
        rate = len(ok) / span if span > 0 else 0.0
        out["throughput"] = Cell(round(rate, 2), f"{rate:,.0f} ok ops/s")
    else:
        out["throughput"] = missing("no ok ops")
    return out


def _k_staleness(run: RunFacts) -> Cell:
    st = run.checker("staleness")
    if st is None and run.mode == "dynamo" and run.workload == "register":
        return _sibling_k_staleness(run)
    if st is None:
        return missing("staleness not measured by this mode and workload")
    details = st.get("details", {})
    measured = details.get("k_staleness", {}).get("p_at_least", [])
    p1 = measured[1] if len(measured) > 1 else 0.0
    prediction = details.get("pbs")  # the quorum the staleness checker judged against
    if not prediction:
        return Cell(p1, f"P(k≥1) {p1:.2%}")
    n, r, w = prediction["n"], prediction["r"], prediction["w"]
    q1 = pbs.k_staleness(n, r, w, 1)[1]
    return Cell(p1, f"P(k≥1) {p1:.2%}; PBS predicts ≤ {q1:.2%} (N={n}, R={r}, W={w})")


def _sibling_k_staleness(run: RunFacts) -> Cell:
    """P(k≥1) of dynamo's register reads, by :func:`sibling_misses`, beside PBS."""
    counted = sibling_misses(run)
    if counted is None:
        return missing("no ok reads")
    stale, reads = counted
    p1 = stale / reads
    params = run.test.get("cluster") or {}
    n, r, w = (params.get(x) for x in ("n", "r", "w"))
    text = f"P(k≥1) {p1:.2%} ({stale:,} of {reads:,} sibling reads missed a write)"
    if n and r and w:
        text += f"; PBS predicts ≤ {pbs.k_staleness(n, r, w, 1)[1]:.2%} (N={n}, R={r}, W={w})"
    return Cell(round(p1, 6), text)


def sibling_misses(run: RunFacts) -> tuple[int, int] | None:
    """(stale reads, ok reads) of a dynamo register run, or None without ok reads. Sibling sets
    have no version order, so staleness is causal: a write acknowledged before a read began is
    *missed* when the read returned neither its value nor a value written after reading it (a
    read-modify-write's ``meta.read`` names the values it replaced). Values are unique per key,
    as the workload writes them."""
    ops = run.client_ops()
    replaced: dict[Any, dict[Any, set]] = {}  # key -> value -> the values its write read
    acked: dict[Any, list[Op]] = {}  # key -> its ok writes by acknowledgement time
    for op in sorted((op for op in ops if op.f == "write" and op.ok), key=lambda op: op.ret):
        read = (op.meta or {}).get("read") or []
        replaced.setdefault(op.key, {})[freeze(op.value)] = {freeze(v) for v in read}
        acked.setdefault(op.key, []).append(op)
    reads = [op for op in ops if op.f == "read" and op.ok and isinstance(op.output, list)]
    if not reads:
        return None
    stale = 0
    for rd in reads:
        seen = _with_ancestors({freeze(v) for v in rd.output}, replaced.get(rd.key, {}))
        mine = acked.get(rd.key, [])
        before = mine[:bisect_left([w.ret for w in mine], rd.call)]
        stale += any(freeze(w.value) not in seen for w in before)
    return stale, len(reads)


def _with_ancestors(values: set, replaced: dict[Any, set]) -> set:
    """``values`` and every value they replaced, transitively."""
    out, todo = set(values), list(values)
    while todo:
        for older in replaced.get(todo.pop(), ()):
            if older not in out:
                out.add(older)
                todo.append(older)
    return out
