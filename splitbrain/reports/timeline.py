"""Timelines of the ops an anomaly names: one lane per process, one bar per op from invocation
to completion, crashed (``info``) ops running off to the right.

The horizontal axis is event order, not wall time: each invocation and completion in the window
gets its own slot, in history order. Concurrency is what matters for a consistency anomaly, and
event order shows exactly which ops overlapped without letting a 2-second timeout squash a
50-microsecond read into a hairline (real times are on the axis and in every tooltip; a history
without measured times shows event numbers there instead).

For a linearizability failure the timeline also draws the attempted linearization: a point on
each linearized op (at the earliest moment consistent with the order), joined by a path, the
model's state after each step in a ribbon under the lanes, and the op that cannot be placed
marked, with the last consistent state and the candidate states. The output is geometry and
plain strings for the templates; no markup is built here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

from splitbrain.history import INFINITY, Op
from splitbrain.reports.run import RunData, anomaly_ops
from splitbrain.reports.text import describe_op, process_label, seconds, short

MAX_OPS = 120
MAX_STEPS = 60
LEFT, TOP, LANE_H, BAR_H, TAIL = 76, 30, 48, 22, 56
BAR_TOP, POINT_Y = 5, 37  # within a lane: the bar, then the linearization track under it
RIBBON_H = 40


@dataclass
class Bar:
    index: int
    x0: float
    x1: float
    y: float
    label: str
    outcome: str
    role: str = ""          # linearized | failing | candidate | named | ""
    step: int | None = None

    @property
    def crashed(self) -> bool:
        return self.outcome == "info"

    @property
    def text(self) -> str:
        """What the bar says: its op's index (explanations name ops by index), then the op."""
        return fit(f"{self.index}: {self.label}", self.x1 - self.x0)


def fit(label: str, width: float) -> str:
    """The label cut to what fits in ``width`` pixels (about 6.5 px per character)."""
    room = int((width - 8) / 6.5)
    if room < 2:
        return ""
    return label if len(label) <= room else label[: room - 1] + "…"


@dataclass
class Segment:
    """A stretch of the state ribbon: the model's state from ``x0`` to ``x1``."""

    x0: float
    x1: float
    state: str

    @property
    def text(self) -> str:
        return fit(self.state, self.x1 - self.x0)


@dataclass
class Point:
    x: float
    y: float
    step: int
    index: int
    state: str


@dataclass
class Step:
    step: int
    index: int
    process: str
    label: str
    state: str
    drawn: bool = False


@dataclass
class Candidate:
    index: int
    label: str
    state: str
    why: str


@dataclass
class Timeline:
    """One drawn timeline. ``steps`` are the listed linearization steps; those not ``drawn``
    happened before the window."""

    width: float
    height: float
    lanes: list[tuple[str, float]]  # label, top
    bars: list[Bar]
    ticks: list[tuple[float, str]]
    points: list[Point] = field(default_factory=list)
    ribbon: list[Segment] = field(default_factory=list)
    ribbon_y: float = 0
    steps: list[Step] = field(default_factory=list)
    failing: Bar | None = None
    last_state: str = ""
    candidates: list[Candidate] = field(default_factory=list)
    tooltips: dict[str, dict[str, Any]] = field(default_factory=dict)
    note: str = ""
    missing: list[int] = field(default_factory=list)
    left: int = LEFT
    lane_height: int = LANE_H
    bar_height: int = BAR_H

    @property
    def outcomes(self) -> set[str]:
        return {b.outcome for b in self.bars}


def _pick(run: RunData, named: list[int], centre: int | None,
          context: list[Op] = ()) -> tuple[list[Op], list[int], int]:
    """The ops to draw, in invocation order: the ops the ``named`` indices belong to, then
    ``context`` ops, at most MAX_OPS in all (the nearest ``centre`` first). Also returns the
    named indices that belong to no client op and how many ops were left out."""
    ops: dict[int, Op] = {}
    missing = []
    for i in named:
        op = run.op_at(i)
        if op is None:
            missing.append(i)
        else:
            ops[op.index] = op
    mid = centre if centre is not None else (min(ops) + max(ops)) // 2 if ops else 0
    chosen = sorted(ops.values(), key=lambda o: abs(o.index - mid))[:MAX_OPS]
    extra = sorted((o for o in context if o.index not in ops), key=lambda o: abs(o.index - mid))
    chosen += extra[:MAX_OPS - len(chosen)]
    dropped = len(ops) + len(extra) - len(chosen)
    return sorted(chosen, key=lambda o: o.index), missing, dropped


def _concurrent(run: RunData, ops: list[Op], key: Any) -> list[Op]:
    """Ops on ``key`` in flight during the span of ``ops``: what else was happening while the
    anomaly did. A crashed op counts as in flight until its client gave up on it (its ``info``
    completion), though it may take effect later still; otherwise every old crash would
    crowd every window."""

    def seen_until(o: Op) -> float:
        if o.ret != INFINITY:
            return o.ret
        return run.events[o.completion_index].time if o.completion_index >= 0 else INFINITY

    if not ops:
        return []
    start = min(o.call for o in ops)
    end = max(o.ret if o.ret != INFINITY else o.call for o in ops)
    return [o for o in run.ops_on(key) if o.call <= end and seen_until(o) >= start]


def _records(anomaly: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """The records (dicts) of a list field of an anomaly; nothing if it is not a list."""
    value = anomaly.get(name)
    return [r for r in value if isinstance(r, dict)] if isinstance(value, list) else []


def _event_json(run: RunData, index: int) -> str:
    return json.dumps(run.events[index].to_dict(), default=str, ensure_ascii=False)


def _tooltip(run: RunData, op: Op, extra: list[tuple[str, str]]) -> dict[str, Any]:
    rows = [("process", process_label(op.process)), ("outcome", op.type)]
    if op.key is not None:
        rows.append(("key", short(op.key, 200)))
    if op.node:
        rows.append(("node", op.node))
    if op.error:
        rows.append(("error", op.error))
    if op.meta:
        rows.extend((f"meta.{k}", short(v, 200)) for k, v in op.meta.items())
    done = run.events[op.completion_index].time if op.completion_index >= 0 else None
    ended = "gave up (indeterminate)" if op.type == "info" else "completed"
    if run.real_times:
        rows.append(("invoked", f"{seconds(op.call)} (event {op.index})"))
        rows.append((ended, f"{seconds(done)} (event {op.completion_index}), "
                            f"after {seconds(done - op.call)}" if done is not None else "never"))
    else:
        rows.append(("invoked", f"event {op.index}"))
        rows.append((ended, f"event {op.completion_index}" if done is not None else "never"))
    rows.extend(extra)
    rows.append(("invoke event", _event_json(run, op.index)))
    if op.completion_index >= 0:
        rows.append(("completion event", _event_json(run, op.completion_index)))
    return {"title": f"op {op.index} · {process_label(op.process)} · {describe_op(op, 80)}",
            "rows": [[k, v] for k, v in rows]}


def _lane_order(p: int | str) -> tuple:
    return (isinstance(p, str), p if isinstance(p, int) else 0, str(p))


def _layout(run: RunData, ops: list[Op], label_of: Callable[[Op], str], lane_h: int = LANE_H
            ) -> tuple[Timeline, dict[int, int], Callable[[float], float]]:
    """Lanes (``lane_h`` high: room under the bars for a linearization track, or not), slots
    and bars. Returns the timeline, each event index's slot, and the function from a
    (fractional) slot to its x pixel."""
    procs = sorted({op.process for op in ops}, key=_lane_order)
    lane_of = {p: i for i, p in enumerate(procs)}
    slot_events = sorted({op.index for op in ops} |
                         {op.completion_index for op in ops
                          if op.completion_index >= 0 and op.type != "info"})
    slot = {e: i for i, e in enumerate(slot_events)}
    slot_w = max(40.0, min(120.0, 1100.0 / max(len(slot_events), 1)))

    def x_of(s: float) -> float:
        return round(LEFT + (s + 0.5) * slot_w, 1)

    right = LEFT + len(slot_events) * slot_w
    bars = []
    for op in ops:
        y = TOP + lane_of[op.process] * lane_h + BAR_TOP
        x0 = x_of(slot[op.index]) - slot_w * 0.35
        x1 = (right + TAIL - 6 if op.type == "info"
              else x_of(slot[op.completion_index]) + slot_w * 0.35)
        bars.append(Bar(op.index, x0, x1, y, label_of(op), op.type))
    every = max(1, len(slot_events) // 8)
    ticks = [(x_of(i), seconds(run.events[e].time) if run.real_times else f"event {e}")
             for i, e in enumerate(slot_events)
             if i % every == 0 or i == len(slot_events) - 1]
    lanes = [(process_label(p), TOP + i * lane_h) for i, p in enumerate(procs)]
    tl = Timeline(width=right + TAIL, height=TOP + len(procs) * lane_h + 8, lanes=lanes,
                  bars=bars, ticks=ticks, lane_height=lane_h)
    return tl, slot, x_of


def _version_label(op: Op) -> str:
    """The op with the server's timestamp or version, which eventual anomalies turn on."""
    meta = op.meta or {}
    marks = [f"{mark}{short(meta[name], 16)}" for name, mark in (("ts", "@ts "), ("version", "@v"))
             if name in meta]
    return " ".join([describe_op(op), *marks])


def anomaly_timeline(run: RunData, anomaly: dict[str, Any]) -> Timeline | None:
    """The timeline of the ops an eventual (or any) anomaly names, labelled with their server
    timestamps or versions when they have them. None if it names no op of the history."""
    indices = anomaly_ops(anomaly)
    ops, missing, dropped = _pick(run, indices, None)
    if not ops:
        return None
    tl, _, _ = _layout(run, ops, _version_label, lane_h=BAR_H + 2 * BAR_TOP + 2)
    for bar in tl.bars:
        bar.role = "named"
    tl.tooltips = {str(op.index): _tooltip(run, op, []) for op in ops}
    tl.missing = missing
    if dropped:
        tl.note = f"{dropped} more ops named by this anomaly are not drawn."
    return tl


def linearizability_timeline(run: RunData, anomaly: dict[str, Any]) -> Timeline | None:
    """The failing window of a ``nonlinearizable`` anomaly: the ops it names, the last steps of
    the attempted linearization, the candidates, and the other ops on its key in flight at the
    time; with the linearization drawn, the state after each step, the op that cannot be
    placed and its candidate states. ``linearization`` may be the tail of a longer prefix
    (``prefix_length`` steps in all): steps are numbered in the whole prefix. None if the
    anomaly names no op of the history."""
    lin = _records(anomaly, "linearization")[-MAX_STEPS:]
    cands = _records(anomaly, "candidates")
    failing_op = run.op_at(anomaly.get("op"))
    total = anomaly.get("prefix_length")
    total = total if isinstance(total, int) and total >= len(lin) else len(lin)
    offset = total - len(lin)
    window = anomaly_ops(anomaly)
    window += [c.get("op") for c in cands if isinstance(c.get("op"), int)]
    if failing_op:
        window.append(failing_op.index)
    key = anomaly["key"] if "key" in anomaly else failing_op.key if failing_op else None
    window_ops = [op for op in map(run.op_at, window) if op]
    context = _concurrent(run, window_ops, key) if "key" in anomaly or failing_op else []
    # Steps of the linearization are drawn where they fall in the window; the ones before it
    # are in the steps table, and the ribbon starts from the state they leave.
    start = min((o.call for o in window_ops), default=-INFINITY)
    named = window + [x.get("op") for x in lin if isinstance(x.get("op"), int)
                      and (run.op_at(x["op"]) is None or run.op_at(x["op"]).ret >= start)]
    ops, missing, dropped = _pick(run, named, failing_op.index if failing_op else None, context)
    if not ops:
        return None
    tl, slot, x_of = _layout(run, ops, describe_op)
    bar_of = {b.index: b for b in tl.bars}
    extra: dict[int, list[tuple[str, str]]] = {op.index: [] for op in ops}

    # The attempted linearization: a point per step at the earliest moment that respects both
    # the op's interval and the order of the steps before it.
    prev_state = "initial" if not offset else "(earlier steps not listed)"
    first_drawn_state = None
    at = -1.0
    for n, s in enumerate(lin, start=offset + 1):
        op = run.op_at(s.get("op"))
        state = str(s.get("state", ""))
        tl.steps.append(Step(n, s.get("op"), process_label(op.process) if op else "?",
                             describe_op(op) if op else f"op {s.get('op')} (not in history)",
                             state, op is not None and op.index in bar_of))
        if op is not None and op.index in bar_of:
            bar = bar_of[op.index]
            bar.role, bar.step = "linearized", n
            end = slot.get(op.completion_index, len(slot) + 0.4)
            at = min(max(slot[op.index], at + 0.3), end)
            tl.points.append(Point(x_of(at), bar.y - BAR_TOP + POINT_Y, n, op.index, state))
            extra[op.index] += [("linearized", f"step {n} of {total}"),
                                ("state before", prev_state), ("state after", state)]
            if first_drawn_state is None:
                first_drawn_state = prev_state
        prev_state = state

    for c in cands:
        op = run.op_at(c.get("op"))
        label = describe_op(op) if op else f"op {c.get('op')} (not in history)"
        cand = Candidate(c.get("op"), label, str(c.get("state", "")), str(c.get("why", "")))
        tl.candidates.append(cand)
        if op is not None and op.index in bar_of:
            bar_of[op.index].role = bar_of[op.index].role or "candidate"
            extra[op.index].append(("as the next step",
                                    f"{cand.state}: {cand.why}" if cand.why else cand.state))

    tl.last_state = str(anomaly.get("last_state", prev_state))
    if failing_op is not None and failing_op.index in bar_of:
        tl.failing = bar_of[failing_op.index]
        tl.failing.role = "failing"
        seen = [f"{c.label} → {c.state}" + (f" ({c.why})" if c.why else "")
                for c in tl.candidates]
        extra[failing_op.index] = [
            ("cannot be placed", f"after step {total}, from state {tl.last_state}"),
            ("states it could have seen", "; ".join(seen) or tl.last_state)]

    tl.ribbon_y = tl.height + 4
    bounds = [LEFT] + [p.x for p in tl.points] + [tl.width - 4]
    states = [first_drawn_state or prev_state] + [p.state for p in tl.points]
    tl.ribbon = [Segment(bounds[i], bounds[i + 1], states[i]) for i in range(len(states))]
    tl.height = tl.ribbon_y + RIBBON_H
    tl.tooltips = {str(op.index): _tooltip(run, op, extra[op.index]) for op in ops}
    tl.missing = missing
    if {o.index for o in context} - {o.index for o in map(run.op_at, named) if o}:
        tl.note = "Unmarked ops: others on this key in flight at the time, for context."
    if dropped:
        tl.note += (f" {dropped} more ops are not drawn (the {MAX_OPS} nearest the op that "
                    f"cannot be placed are).")
    return tl
