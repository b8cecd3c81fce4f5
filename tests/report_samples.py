"""Synthetic run directories for the report tests: small hand-built histories whose anomalies
follow the checker contracts (linearizability's failing window, linearization and candidates;
eventual lost writes with timestamps), and a large generated run."""

from __future__ import annotations

import functools
import json
import random
import time
from pathlib import Path

from splitbrain.checkers.result import Result, compose
from splitbrain.history import Event, HistoryWriter
from splitbrain.reports import write_run_report

EVIL = "<script>alert('pwned')</script>"
MS = 1_000_000


def _write_run(run_dir: Path, events: list[Event], results: dict[str, Result],
               test: dict | None, logs: dict[str, str]) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    if len(events) < 1000:
        with HistoryWriter(run_dir / "history.jsonl") as w:
            for ev in events:
                w.append(ev)
    else:  # the writer flushes every line; a big generated history is written at once
        (run_dir / "history.jsonl").write_text("".join(
            json.dumps(ev.to_dict(), separators=(",", ":")) + "\n" for ev in events))
    (run_dir / "results.json").write_text(json.dumps(compose(results).to_dict(), indent=1))
    if test is not None:
        (run_dir / "test.json").write_text(json.dumps(test, indent=1))
    if logs:
        (run_dir / "nodes").mkdir(exist_ok=True)
        for name, text in logs.items():
            (run_dir / "nodes" / f"{name}.log").write_text(text)
    return run_dir


def small_events(evil: str = "") -> list[Event]:
    """A register history on key ``x``: p0 writes 1, then p1 writes 2, then p2 reads 1
    (nonlinearizable), while p3 crashes writing 3; a partition and a kill; lww writes
    with timestamps on key ``y`` where a later write carries a lower timestamp."""
    t = iter(range(0, 10_000 * MS, 7 * MS))
    ev = [
        Event("invoke", "nemesis", "start-partition", [["n1", "n2"], ["n3", "n4", "n5"]], next(t)),
        Event("info", "nemesis", "start-partition", [["n1", "n2"], ["n3", "n4", "n5"]], next(t)),
        Event("invoke", 0, "write", 1, next(t), key="x", node="n1"),           # 2
        Event("ok", 0, "write", 1, next(t), key="x", node="n1"),               # 3
        Event("invoke", 1, "write", 2, next(t), key="x", node="n2"),           # 4
        Event("invoke", 3, "write", 3, next(t), key="x", node="n3"),           # 5
        Event("ok", 1, "write", 2, next(t), key="x", node="n2"),               # 6
        Event("invoke", 2, "read", None, next(t), key="x", node="n4",
              consistency="strong"),                                           # 7
        Event("ok", 2, "read", 1, next(t), key="x", node="n4",
              consistency="strong"),                                           # 8
        Event("info", 3, "write", 3, next(t), key="x", node="n3", error="timeout"),  # 9
        Event("invoke", "nemesis", "stop-partition", None, next(t)),
        Event("info", "nemesis", "stop-partition", None, next(t)),
        Event("invoke", 0, "write", 10, next(t), key="y", node="n1"),          # 12
        Event("ok", 0, "write", 10, next(t), key="y", node="n1", meta={"ts": 105.0}),  # 13
        Event("invoke", 1, "write", evil or 11, next(t), key="y", node="n2"),  # 14
        Event("ok", 1, "write", evil or 11, next(t), key="y", node="n2", meta={"ts": 101.0}),
        Event("invoke", "nemesis", "kill", ["n3"], next(t)),
        Event("info", "nemesis", "kill", ["n3"], next(t)),
        Event("invoke", 2, "read", None, next(t), key="y", node="n1"),         # 18
        Event("fail", 2, "read", None, next(t), key="y", node="n1", error="unavailable"),
        Event("invoke", "nemesis", "restart", ["n3"], next(t)),
        Event("info", "nemesis", "restart", ["n3"], next(t)),
        Event("invoke", 2, "read", None, next(t), key="y", node="n5"),         # 22
        Event("ok", 2, "read", 10, next(t), key="y", node="n5", meta={"ts": 105.0}),
    ]
    return ev


def small_results(evil: str = "") -> dict[str, Result]:
    lin = Result(
        valid=False, checker="linearizable",
        anomalies=[{
            "type": "nonlinearizable", "key": "x", "ops": [2, 4, 5, 7], "op": 7,
            "explanation": "read of x by p2 returned 1, but both writes (1 then 2) completed "
                           "before it began, so the register held 2" + (f" {evil}" if evil else ""),
            "linearization": [{"op": 2, "state": "1"}, {"op": 4, "state": "2"}],
            "prefix_length": 2,
            "last_state": "2",
            "candidates": [{"op": 7, "state": "2", "why": "read returned 1, register holds 2"},
                           {"op": 5, "state": "3", "why": "then the read would see 3"}],
        }],
        stats={"keys": 2, "ops": 6, "seconds": 0.004},
        details={"model": "register", "keys": {
            "x": {"valid": False, "ops": 4, "seconds": 0.003, "reason": None},
            "y": {"valid": True, "ops": 3, "seconds": 0.001, "reason": None}}})
    lww = Result(
        valid=True, checker="lww",
        anomalies=[{"type": "lost-write", "key": "y", "ops": [12, 14],
                    "explanation": f"write of {evil or 11} to y (op 14) was acknowledged after "
                                   f"write 10 (op 12) finished, but lost to it: its timestamp "
                                   f"101.0 is lower than 105.0.", "ts": [105.0, 101.0]}],
        stats={"lost_writes": 1, "anomaly_counts": {"lost-write": 1}, "anomalies_kept": 1},
        details={"k_staleness": {"0": 40, "1": 7, "2": 2, "3": 1},
                 "t_visibility_ms": [0.5, 1.2, 1.9, 2.4, 3.3, 5.0, 8.1, 13.0]})
    odd = Result(valid="unknown", checker="counter", reason="ran out of its 10 s time budget",
                 stats={"reads": 0})
    return {"linearizable": lin, "lww": lww, "counter": odd}


def small_run(run_dir: Path, *, evil: str = "", test: bool = True) -> Path:
    """A run directory with a nonlinearizable read, an lww lost write, an unknown checker, a
    partition and a kill, node logs, and (when ``evil``) hostile strings everywhere."""
    options = {"name": f"register-lww{evil}", "mode": "lww", "workload": "register",
               "nemesis": "partition,kill", "nemesis_interval": 5, "nodes": 5,
               "concurrency": 4, "rate": 50, "time_limit": 10, "net": "proxy", "seed": 42,
               "command": f"splitbrain test --mode lww --seed 42 --name '{evil}'",
               "start_time": "2026-11-26T18:40:00Z", "duration": 0.17}
    logs = {"n1": f"started\nwarning {evil}\n", "n2": "started\n"}
    return _write_run(run_dir, small_events(evil), small_results(evil),
                      options if test else None, logs)


def big_run(run_dir: Path, n_ops: int = 200_000, *, seed: int = 7) -> Path:
    """A run of ``n_ops`` register ops from 10 processes over 10 minutes with faults every
    30 s, a few hundred lww lost writes and one nonlinearizable read near the end."""
    rng = random.Random(seed)
    events: list[Event] = []
    procs = list(range(10))
    clock = 0
    open_ops: dict[int, Event] = {}
    step = 600_000 * MS // (2 * n_ops)
    fault_at = 30_000 * MS
    faulting = False
    kinds = [("start-partition", "stop-partition", [["n1", "n2"], ["n3", "n4", "n5"]]),
             ("kill", "restart", ["n2"]), ("pause", "resume", ["n4"]),
             ("bump-clock", "reset-clock", {"n1": 250})]
    k = invoked = 0
    while invoked < n_ops or open_ops:
        clock += rng.randint(1, 2 * step)
        if clock >= fault_at:
            start, stop, target = kinds[k % len(kinds)]
            f = stop if faulting else start
            events.append(Event("invoke", "nemesis", f, target, clock))
            events.append(Event("info", "nemesis", f, target, clock + MS))
            k += faulting
            faulting = not faulting
            fault_at += 30_000 * MS
            clock += MS
        p = rng.choice(procs if invoked < n_ops else [q for q in procs if q in open_ops])
        if p in open_ops:
            inv = open_ops.pop(p)
            outcome = rng.choices(["ok", "fail", "info"], [90, 6, 4 if faulting else 0.5])[0]
            value = rng.randint(0, 5) if inv.f == "read" else inv.value
            events.append(Event(outcome, p, inv.f, value if outcome == "ok" else inv.value,
                                clock, key=inv.key, node=inv.node,
                                meta={"ts": clock / 1e9} if outcome == "ok" else None,
                                error=None if outcome == "ok" else "timeout"))
            if outcome == "info":
                procs[procs.index(p)] = p + 10
        else:
            f = rng.choice(["read", "write", "cas"])
            value = None if f == "read" else rng.randint(0, 5) if f == "write" else [1, 2]
            inv = Event("invoke", p, f, value, clock, key=f"k{rng.randint(0, 9)}",
                        node=f"n{rng.randint(1, 5)}")
            open_ops[p] = inv
            events.append(inv)
            invoked += 1
    for i, ev in enumerate(events):
        ev.index = i
    writes = [e.index for e in events if e.f == "write" and e.type == "invoke"]
    reads = [e.index for e in events if e.f == "read" and e.type == "invoke"]
    lost = [{"type": "lost-write", "key": "k1", "ops": [writes[i], writes[i + 1]],
             "explanation": f"write (op {writes[i + 1]}) lost to an earlier write with a "
                            f"higher timestamp"} for i in range(0, 2 * 300, 2)]
    failing = reads[-50]
    lin = Result(valid=False, checker="linearizable", anomalies=[{
        "type": "nonlinearizable", "key": "k3", "ops": reads[-60:-40], "op": failing,
        "explanation": "a read saw a value no linearization allows",
        "linearization": [{"op": i, "state": str(n % 6)} for n, i in enumerate(writes[:-10])],
        "last_state": "4", "candidates": [{"op": failing, "state": "4", "why": "read 2"}]}],
        stats={"keys": 10}, details={"model": "register", "keys": {
            f"k{i}": {"valid": i != 3, "ops": n_ops // 10, "seconds": 1.5, "reason": None}
            for i in range(10)}})
    lww = Result(valid=True, checker="lww", anomalies=lost,
                 stats={"anomaly_counts": {"lost-write": 2000}, "anomalies_kept": len(lost)},
                 details={"k_staleness": {str(i): 10_000 // (i + 1) for i in range(20)}})
    return _write_run(run_dir, events, {"linearizable": lin, "lww": lww},
                      {"name": "big", "mode": "lww", "workload": "register",
                       "nemesis": "partition,kill,pause,clock", "nodes": 5,
                       "command": "splitbrain test --time-limit 600"},
                      {f"n{i}": "log\n" for i in range(1, 6)})


@functools.cache
def big_report(base: Path) -> tuple[Path, float]:
    """A 200,000-op :func:`big_run` under ``base`` with its report written, built once per test
    session (pass the session's base temp dir); returns the run and the seconds the report
    took to write."""
    run = big_run(base / "big-run")
    start = time.monotonic()
    write_run_report(run)
    return run, time.monotonic() - start
