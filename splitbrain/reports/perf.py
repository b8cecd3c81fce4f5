"""Performance plots, as Jepsen's perf graphs: latency over time (one plot per op type, points
coloured by outcome, log scale) and throughput over time, each with every fault interval shaded
and labelled by kind and target.

Plots are downsampled so that a long run stays small: time is cut into at most ``BUCKETS``
buckets and each (op type, outcome) series keeps only the fastest, the median and the slowest
op of each bucket, so outliers survive. The output is geometry (pixels) for the templates; no
markup is built here. (Availability per fault kind is the availability checker's figure.)
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

from splitbrain.history import Event, Op
from splitbrain.reports.faults import Fault, fault_kinds
from splitbrain.reports.svg import Scale, tick_label
from splitbrain.reports.text import seconds

BUCKETS = 300
QUANTILES = (0.5, 0.99)  # latency quantile lines over the ok ops
OUTCOMES = ("ok", "fail", "info")
WIDTH, HEIGHT = 960, 210
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 22, 34


@dataclass
class Band:
    """A shaded fault interval: pixels ``x0..x1``, its label, the kind's colour slot."""

    x0: float
    x1: float
    label: str
    kind: str
    slot: int
    healed: bool

    @property
    def text(self) -> str:
        """What fits in the band: the whole label, or the kind alone, or nothing (the band's
        hover title and the legend still say it)."""
        room = (self.x1 - self.x0 - 4) / 6
        return next((t for t in (self.label, self.kind) if len(t) <= room), "")


@dataclass
class Series:
    """One plotted series: ``points`` in pixels; drawn as dots or as a line."""

    name: str
    outcome: str
    points: list[tuple[float, float] | None]
    line: bool = False
    dash: str = ""

    @property
    def path(self) -> str:
        """SVG path data: a polyline (broken where a point is None: no data there), or a
        zero-length segment per point (drawn as a dot by a round line cap, the most compact
        scatter SVG can express)."""
        if not self.line:
            return "".join(f"M{p[0]:g} {p[1]:g}h0" for p in self.points if p)
        out, pen_down = [], False
        for p in self.points:
            if p is not None:
                out.append(f"{'L' if pen_down else 'M'}{p[0]:g} {p[1]:g}")
            pen_down = p is not None
        return "".join(out)


@dataclass
class Plot:
    title: str
    y_label: str
    width: int = WIDTH
    height: int = HEIGHT
    x_ticks: list[tuple[float, str]] = field(default_factory=list)
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    bands: list[Band] = field(default_factory=list)
    series: list[Series] = field(default_factory=list)
    note: str = ""
    plot_left: int = LEFT
    plot_top: int = TOP

    @property
    def plot_right(self) -> int:
        return self.width - RIGHT

    @property
    def plot_bottom(self) -> int:
        return self.height - BOTTOM


@dataclass
class Perf:
    latency: list[Plot]
    throughput: Plot
    kinds: list[str]


def completion_time(op: Op, events: list[Event]) -> float | None:
    """When the op's completion was recorded (an ``info`` op's ``ret`` is infinity by contract,
    but its completion event still has a time: the timeout). None if it never completed."""
    if op.completion_index < 0:
        return None
    return events[op.completion_index].time


def _time_scale(end: float) -> Scale:
    return Scale(0, max(end, 1.0), LEFT, WIDTH - RIGHT)


def _x_ticks(scale: Scale) -> list[tuple[float, str]]:
    ticks = Scale(0, scale.hi / 1e9, scale.p0, scale.p1).ticks(8)
    return [(scale(t * 1e9), tick_label(t)) for t in ticks]


def _bands(faults: list[Fault], scale: Scale, kinds: list[str]) -> list[Band]:
    return [Band(scale(f.start), max(scale(f.end), scale(f.start) + 1.5), f.label, f.kind,
                 kinds.index(f.kind), f.healed) for f in faults]


def _downsample(points: list[tuple[float, float]], end: float) -> list[tuple[float, float]]:
    """Keep the fastest, median and slowest (time, latency) point of each time bucket."""
    width = max(end, 1.0) / BUCKETS
    buckets: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for t, lat in points:
        buckets[int(t / width)].append((t, lat))
    kept: list[tuple[float, float]] = []
    for b in sorted(buckets):
        pts = sorted(buckets[b], key=lambda p: p[1])
        kept.extend(dict.fromkeys([pts[0], pts[len(pts) // 2], pts[-1]]))
    return kept


def rate_buckets(end: float) -> tuple[float, int]:
    """The width (ns) and number of the buckets rates and quantiles are computed in: a second
    or more (finer only for runs under 20 s), at most BUCKETS of them."""
    end = max(end, 1.0)
    width = max(end / BUCKETS, min(1e9, end / 20))
    return width, math.ceil(end / width)


def _quantile_lines(points: list[tuple[float, float]], end: float
                    ) -> dict[float, list[tuple[float, float] | None]]:
    """For each of QUANTILES, its (bucket middle, latency) per rate bucket with ops, None
    between buckets that are not adjacent."""
    width, n = rate_buckets(end)
    buckets: dict[int, list[float]] = defaultdict(list)
    for t, lat in points:
        buckets[min(int(t / width), n - 1)].append(lat)
    lines: dict[float, list[tuple[float, float] | None]] = {q: [] for q in QUANTILES}
    previous = None
    for b in sorted(buckets):
        lats = sorted(buckets[b])
        for q in QUANTILES:
            if previous is not None and b > previous + 1:
                lines[q].append(None)  # no ok op for a while: no line across the gap
            lines[q].append((min((b + 0.5) * width, end),
                             lats[min(int(q * len(lats)), len(lats) - 1)]))
        previous = b
    return lines


def latency_plots(ops: list[Op], events: list[Event], faults: list[Fault], end: float,
                  kinds: list[str]) -> list[Plot]:
    """One latency-over-time plot per op type: the (downsampled) ops as dots coloured by
    outcome, and the median and 99th percentile of the ok ops as lines; latency in ms on a log
    scale."""
    by_f: dict[str, dict[str, list[tuple[float, float]]]] = defaultdict(lambda: defaultdict(list))
    for op in ops:
        done = completion_time(op, events)
        if done is None:
            continue
        by_f[op.f][op.type].append((op.call, max(done - op.call, 1) / 1e6))
    xs = _time_scale(end)
    plots = []
    for f in sorted(by_f):
        series = {o: _downsample(pts, end) for o, pts in by_f[f].items()}
        lats = [lat for pts in series.values() for _, lat in pts]
        ys = Scale(min(lats) * 0.8, max(lats) * 1.25, HEIGHT - BOTTOM, TOP, log=True)
        total = sum(len(v) for v in by_f[f].values())
        shown = sum(len(v) for v in series.values())
        plots.append(Plot(
            title=f"{f} latency", y_label="ms",
            x_ticks=_x_ticks(xs), y_ticks=[(ys(t), tick_label(t)) for t in ys.ticks()],
            bands=_bands(faults, xs, kinds),
            series=[Series(f"{f} {o}", o, [(xs(t), ys(lat)) for t, lat in series[o]])
                    for o in OUTCOMES if o in series] +
                   [Series(f"ok p{q * 100:g}", f"q{q * 100:g}",
                           [(xs(p[0]), ys(p[1])) if p else None for p in line], line=True)
                    for q, line in _quantile_lines(by_f[f].get("ok", []), end).items()
                    if len(line) > 1],
            note=(f"{total} ops; fastest, median and slowest of each of {BUCKETS} time buckets "
                  f"shown ({shown} points)" if shown < total else f"{total} ops")))
    return plots


def throughput_plot(ops: list[Op], events: list[Event], faults: list[Fault], end: float,
                    kinds: list[str]) -> Plot:
    """Completions per second over time, one line per (op type, outcome), in
    :func:`rate_buckets`."""
    end = max(end, 1.0)
    width, n = rate_buckets(end)
    spans = [min(width, end - i * width) / 1e9 for i in range(n)]  # the last may be short
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * n)
    for op in ops:
        done = completion_time(op, events)
        if done is not None:
            counts[(op.f, op.type)][min(int(done / width), n - 1)] += 1
    rate = {k: [c / span for c, span in zip(v, spans)] for k, v in counts.items()}
    top = max((max(v) for v in rate.values()), default=1.0) or 1.0
    xs = _time_scale(end)
    ys = Scale(0, top * 1.1, HEIGHT - BOTTOM, TOP)
    fs = sorted({f for f, _ in rate})
    dashes = ["", "6 3", "2 3", "8 3 2 3", "1 2"]
    return Plot(
        title="throughput", y_label="ops/s",
        x_ticks=_x_ticks(xs), y_ticks=[(ys(t), tick_label(t)) for t in ys.ticks(5)],
        bands=_bands(faults, xs, kinds),
        series=[Series(f"{f} {o}", o, [(xs(min((i + 0.5) * width, end)), ys(r))
                                       for i, r in enumerate(v)],
                       line=True, dash=dashes[fs.index(f) % len(dashes)])
                for (f, o), v in sorted(rate.items(), key=lambda kv: (kv[0][0],
                                                                       OUTCOMES.index(kv[0][1])))],
        note=f"completions per second in {seconds(width)} buckets")


def has_real_times(events: list[Event]) -> bool:
    """Whether event times look measured: histories imported without times (Knossos's EDN,
    some Porcupine logs) number their events instead, a few nanoseconds apart, and plotting
    those would show nonsense."""
    span = max(ev.time for ev in events) - min(ev.time for ev in events) if events else 0
    return span >= 1_000 * len(events)


def perf(ops: list[Op], events: list[Event], faults: list[Fault]) -> Perf:
    """Every performance figure of a run, for the report."""
    end = max((ev.time for ev in events), default=0)
    kinds = fault_kinds(faults)
    return Perf(latency=latency_plots(ops, events, faults, end, kinds),
                throughput=throughput_plot(ops, events, faults, end, kinds), kinds=kinds)
