"""Fault intervals, their labels, and the downsampled perf plots (pure functions)."""

from __future__ import annotations

import math

from splitbrain.history import Event, History, validate
from splitbrain.reports.faults import fault_intervals
from splitbrain.reports.perf import BUCKETS, latency_plots, throughput_plot
from splitbrain.reports.svg import Scale
from splitbrain.reports.text import seconds, targets

S = 1_000_000_000


def nemesis(*ops: tuple[str, object, int]) -> History:
    events = []
    for f, value, t in ops:
        events += [Event("invoke", "nemesis", f, value, t), Event("info", "nemesis", f, value, t + 1)]
    return History(validate(events))


def test_faults_pair_start_and_stop_by_kind_and_target():
    h = nemesis(("start-partition", [["n1", "n2"], ["n3"]], 1 * S),
                ("kill", {"nodes": ["n1"]}, 2 * S), ("kill", {"nodes": ["n2"]}, 3 * S),
                ("restart", {"nodes": ["n1"]}, 4 * S), ("stop-partition", None, 5 * S),
                ("bump-clock", {"n3": 250}, 6 * S))
    faults = fault_intervals(h.nemesis_ops(), 10 * S)
    got = [(f.kind, f.targets, f.start // S, math.floor(f.end / S), f.healed) for f in faults]
    assert got == [("partition", "n1 n2 | n3", 1, 5, True), ("kill", "n1", 2, 4, True),
                   ("kill", "n2", 3, 10, False), ("clock", "n3: 250", 6, 10, False)]


def test_the_final_heal_ends_every_fault_and_cut_maps_show_sides():
    cut = {"topology": "one", "cut": {"n1": ["n4"], "n2": ["n4"], "n3": ["n4"],
                                      "n4": ["n1", "n2", "n3", "n5"], "n5": ["n4"]}}
    h = nemesis(("start-partition", cut, 1 * S), ("pause", {"nodes": ["n2"]}, 2 * S),
                ("heal", {"restarted": ["n2"]}, 3 * S))
    faults = fault_intervals(h.nemesis_ops(), 10 * S)
    assert [(f.kind, f.targets, f.end // S) for f in faults] == [
        ("partition", "one: n1 n2 n3 n5 | n4", 3), ("pause", "n2", 3)]
    assert targets({"cut": {"a": ["c"], "b": ["c"], "c": ["a", "b"]}}) == "a b | c"


def test_plots_keep_at_most_three_points_per_bucket_and_series():
    events, t = [], 0
    for i in range(20_000):
        events += [Event("invoke", i % 4, "read", None, t), Event("ok", i % 4, "read", 1, t + 5 + i % 7)]
        t += 20
    events += [Event("invoke", 0, "write", 1, t), Event("info", 0, "write", 1, t + 1000)]
    h = History(validate(events))
    [read, write] = latency_plots(h.ops(), h.events, [], t + 1000, [])
    points = sum(len(s.points) for s in read.series if not s.line)
    assert points <= 3 * BUCKETS and "20000 ops" in read.note
    assert [s.outcome for s in write.series] == ["info"], "indeterminate ops plot at their timeout"
    tp = throughput_plot(h.ops(), h.events, [], t + 1000, [])
    assert {s.name for s in tp.series} == {"read ok", "write info"}
    # 0.4 ms of history: 20 buckets (finer than a second only because the run is so short)
    assert all(len(s.points) == 20 for s in tp.series) and "20.1 µs buckets" in tp.note


def test_scales_and_durations_read_well():
    assert Scale(0.01, 3000, 0, 100, log=True).ticks() == [0.01, 0.1, 1, 10, 100, 1000]
    assert Scale(3, 8, 0, 100, log=True).ticks() == [3, 5, 7]
    assert Scale(0, 97, 0, 100).ticks(5) == [0, 20, 40, 60, 80]
    assert [seconds(x) for x in (9, 850_000, 12_300_000, 4.51 * S, 200 * S, math.inf)] == [
        "9 ns", "850 µs", "12.3 ms", "4.51 s", "3 min 20 s", "∞"]


def test_quantile_lines_break_where_no_op_succeeded():
    events = []
    for i, t in enumerate([1, 2, 3, 30, 31, 32]):  # seconds; nothing between 3 s and 30 s
        events += [Event("invoke", 0, "read", None, t * S), Event("ok", 0, "read", i, t * S + 5_000_000)]
    h = History(validate(events))
    [plot] = latency_plots(h.ops(), h.events, [], 33 * S, [])
    p50 = next(s for s in plot.series if s.name == "ok p50")
    assert None in p50.points and p50.path.count("M") == 2
