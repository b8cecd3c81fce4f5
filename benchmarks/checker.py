"""Checker speed and memory on large generated histories; prints one table per section.

Each checker runs in a forked child of a process that already holds the history, so its time
and its peak resident memory are measured alone. The peak is the child's ``VmHWM`` (Linux; the
history it reads plus everything the checker builds): ``ru_maxrss`` would not do, since a forked
child inherits its parent's high-water mark, which here includes generating the history. Time is given as wall-clock and as the child's CPU time
(user + system); on a machine shared with other work the CPU time is the checker's own cost and
is what the target is judged on. Targets: every checker under 30 s and 2 GiB on a
1,000,000-op history. Checkers run as the harness runs them, through
``splitbrain.checkers.policy.run``.

    .venv/bin/python benchmarks/checker.py [--ops 1000000] [--only eventual|linearizable]

Sections: ``eventual`` (the checkers of splitbrain.checkers.policy, one generated history per
mode/workload) and ``linearizable`` (the Porcupine corpus against Porcupine's own times, EDN
parse MB/s against edn_format, a cas-register check of a 100,000-op unique-value history with
crashed writes from its EDN form, and a unique-value register history of up to 100,000 ops).
A section is a function returning table rows; add yours to SECTIONS.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from eventual_histories import generate  # noqa: E402

from splitbrain.checkers import policy  # noqa: E402

TIME_LIMIT_S = 30.0
MEMORY_LIMIT_MIB = 2048.0


def measure(fn: Callable[[], Any]) -> dict[str, Any]:
    """Run ``fn`` in a forked child; return its wall time (s), peak RSS (MiB) and what
    ``fn`` returned (JSON-able), or its error."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            t = time.perf_counter()
            out = fn()
            cpu = resource.getrusage(resource.RUSAGE_SELF)
            res = {"seconds": time.perf_counter() - t, "cpu": cpu.ru_utime + cpu.ru_stime,
                   "result": out}
        except BaseException as e:  # noqa: BLE001 - reported in the table
            res = {"seconds": float("nan"), "cpu": float("nan"),
                   "error": f"{type(e).__name__}: {e}"}
        res["rss_mib"] = _peak_rss_mib()
        with os.fdopen(w, "w") as f:
            json.dump(res, f, default=str)
        os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        data = f.read()
    os.waitpid(pid, 0)
    return json.loads(data) if data else {"seconds": float("nan"), "cpu": float("nan"),
                                          "rss_mib": float("nan"), "error": "the child died"}


def _peak_rss_mib() -> float:
    """This process's peak resident set since it started (fork included), in MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def table(title: str, header: list[str], rows: list[list[Any]]) -> None:
    """Print an aligned table."""
    cells = [header] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n{title}")
    for i, row in enumerate(cells):
        print("  ".join(c.ljust(wd) for c, wd in zip(row, widths)))
        if i == 0:
            print("  ".join("-" * wd for wd in widths))


EVENTUAL_CASES = [("lww", "lww", "register"), ("dynamodb", "dynamodb", "register"),
                  ("dynamo", "dynamo", "register"), ("set", "dynamo", "set"),
                  ("counter", "lww", "counter")]
PARAMS = {"n": 3, "r": 2, "w": 2, "replication": 3}


def eventual(ops: int) -> list[list[Any]]:
    rows = []
    for kind, mode, workload in EVENTUAL_CASES:
        t = time.perf_counter()
        history = generate(kind, ops, seed=1)
        n_ops = sum(1 for ev in history.events if ev.type == "invoke")
        print(f"generated {kind}: {n_ops} ops in {time.perf_counter() - t:.1f} s", flush=True)
        for name, fn in policy.checkers_for(mode, workload, PARAMS).items():
            m = measure(lambda name=name, fn=fn: _summary(policy.run({name: fn}, history)[name]))
            ok = (m["cpu"] < TIME_LIMIT_S and m["rss_mib"] < MEMORY_LIMIT_MIB
                  and "error" not in m)
            rows.append([f"{mode}/{workload}", name, n_ops,
                         f"{m['seconds']:.2f} (cpu {m['cpu']:.2f})", f"{m['rss_mib']:.0f}",
                         m.get("error") or m["result"], "ok" if ok else "OVER"])
            print("  ", rows[-1], flush=True)
        del history
    return rows


def _summary(result) -> str:
    counts = result.stats.get("anomaly_counts", {})
    return f"valid={result.valid} " + (", ".join(f"{k}={v}" for k, v in counts.items()) or "-")


CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "porcupine"
#: Porcupine v1.3.0's seconds on this machine for the same files (corpus README).
PORCUPINE_SECONDS = {"jepsen/etcd_*.log": 0.42, "kv/*.txt": 0.20}


def _cpu(fn: Callable[[], Any]) -> tuple[Any, float]:
    """``fn()`` and the CPU seconds it took (steadier than wall time on a shared machine)."""
    started = time.process_time()
    out = fn()
    return out, time.process_time() - started


def linearizable(ops: int) -> list[list[Any]]:
    """The Porcupine corpora (total check seconds, every key of every file decided, and the
    ratio to Porcupine's figure; parsing is timed apart), c50-bad key by key, and a
    unique-value register history of ``min(ops, 100000)`` ops, valid and with a stale read."""
    from splitbrain.checkers.linearizable import check
    from splitbrain.importers import implied_options, load
    from test_linearizable import unique_register_history

    rows = []
    for pattern, reference in PORCUPINE_SECONDS.items():
        files = sorted(CORPUS.glob(pattern))
        if not files:
            continue
        started = time.perf_counter()
        loaded = [load(f) for f in files]
        parsed = time.perf_counter() - started
        m = measure(lambda loaded=loaded: _cpu(lambda: [
            check(h, **implied_options(fmt), time_limit=60).valid for h, fmt in loaded
        ].count(False)))
        illegal, cpu = m.get("result") or (None, float("nan"))
        rows.append([f"porcupine {pattern} ({len(files)} files)", "linearizable",
                     sum(len(h.ops()) for h, _ in loaded), f"{m['seconds']:.2f}",
                     f"{m['rss_mib']:.0f}",
                     m.get("error") or f"{illegal} illegal; CPU {cpu:.2f} s (+{parsed:.2f} s "
                                       f"to parse)",
                     f"ratio {m['seconds'] / reference:.2f} (CPU {cpu / reference:.2f}) vs "
                     f"Porcupine {reference} s"])
    if (CORPUS / "kv" / "c50-bad.txt").exists():
        h, fmt = load(CORPUS / "kv" / "c50-bad.txt")
        m = measure(lambda: check(h, **implied_options(fmt), time_limit=10).details["keys"])
        decided = {k: v["valid"] for k, v in m.get("result", {}).items()}
        rows.append(["porcupine kv/c50-bad.txt, 10 s", "linearizable", len(h.ops()),
                     f"{m['seconds']:.2f}", f"{m['rss_mib']:.0f}",
                     m.get("error") or " ".join(f"{k}={v}" for k, v in sorted(decided.items())),
                     "all keys decided" if "unknown" not in decided.values() else "OVER"])
    n = min(ops, 100_000)
    rows += edn_rows(n)
    for stale in (None, n // 2):
        h = unique_register_history(n, stale_at=stale)
        m = measure(lambda h=h: check(h, "register").valid)
        ok = m["seconds"] < 10 and m["rss_mib"] < 1024
        rows.append([f"unique register{', stale read' if stale else ''}", "linearizable", n,
                     f"{m['seconds']:.2f}", f"{m['rss_mib']:.0f}", m.get("error") or m["result"],
                     "ok (< 10 s, < 1 GiB)" if ok else "OVER"])
    return rows


def to_edn(history) -> str:
    """``history`` as Jepsen writes it: a vector of op maps, one per line, with a ``:time``
    taken per worker (jittered, so it goes backwards in file order as real files do)."""
    rng = random.Random(3)
    lines = []
    for ev in history.events:
        value = "nil" if ev.value is None else json.dumps(ev.value)
        error = f", :error :{ev.error}" if ev.error else ""
        lines.append(f"{{:type :{ev.type}, :f :{ev.f}, :value {value}, :process {ev.process}, "
                     f":time {ev.index * 1_000_000 + rng.randint(0, 3_000_000)}{error}}}")
    return "[" + "\n ".join(lines) + "]\n"


EDN_BASELINE_BYTES = 1 << 20  # edn_format reads about 1 MB/s: timed on the first MiB only


def edn_rows(n: int) -> list[list[Any]]:
    """EDN parse speed (the compiled reader on the whole file, edn_format on its first MiB, in
    CPU seconds) and a cas-register check of a unique-value history of ``n`` ops with ~1.2 %
    crashed writes, from its EDN form (parse included; target < 2 s)."""
    import edn_format

    from splitbrain import edn
    from splitbrain.checkfile import check_file
    from test_linearizable import unique_register_history

    history = unique_register_history(n, processes=10, crashed=0.012, initial=0)
    crashed = sum(ev.type == "info" for ev in history.events)
    text = to_edn(history)
    mb = len(text.encode()) / 1e6
    _, cpu = _cpu(lambda: edn.loads_all(text))
    head = text[:EDN_BASELINE_BYTES]
    head = head[:head.rfind("\n")]  # whole maps only: the reference reads the prefix as forms
    _, base_cpu = _cpu(lambda: edn_format.loads_all(head.lstrip("[")))
    fast, base = mb / cpu, len(head.encode()) / 1e6 / base_cpu
    rows = [[f"EDN parse, {mb:.1f} MB", "splitbrain.edn", n, f"{cpu:.2f} (cpu)", "-",
             f"{fast:.1f} MB/s; edn_format {base:.2f} MB/s on the first MiB: x{fast / base:.0f}",
             "ok (>= 20 MB/s)" if fast >= 20 else "OVER"]]
    with tempfile.TemporaryDirectory(prefix="splitbrain-bench-") as tmp:
        path = Path(tmp) / "unique-cas-register.edn"
        path.write_text(text)
        m = measure(lambda: _cpu(lambda: check_file(path, model="cas-register",
                                                    initial="0").valid))
    valid, cpu = m.get("result") or (None, float("nan"))
    rows.append([f"cas-register --initial 0, unique values, {crashed} crashed writes, from EDN",
                 "linearizable", n, f"{m['seconds']:.2f} (cpu {cpu:.2f})", f"{m['rss_mib']:.0f}",
                 m.get("error") or f"valid={valid}, parse included",
                 "ok (< 2 s cpu)" if cpu < 2 else "OVER"])
    return rows


SECTIONS: dict[str, Callable[[int], list[list[Any]]]] = {"eventual": eventual,
                                                         "linearizable": linearizable}
HEADER = ["history", "checker", "ops", "seconds", "peak MiB", "result", "target"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ops", type=int, default=1_000_000)
    ap.add_argument("--only", choices=sorted(SECTIONS))
    args = ap.parse_args()
    for name, section in SECTIONS.items():
        if args.only and name != args.only:
            continue
        table(f"{name} checkers, {args.ops} ops (targets: < {TIME_LIMIT_S:.0f} s, "
              f"< {MEMORY_LIMIT_MIB:.0f} MiB)", HEADER, section(args.ops))


if __name__ == "__main__":
    main()
