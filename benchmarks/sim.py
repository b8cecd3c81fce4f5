"""Simulation throughput: seeds per minute of ``splitbrain sim`` with ``--jobs 1`` and with
``--jobs 2``, and the simulated-time/wall-time speed-up (target: 1,000 seeds/min for 300-op
dynamodb register runs with faults on 2 cores with ``--jobs 2``).

Runs the same seeds once per ``--jobs`` value exactly as ``splitbrain sim`` does
(``splitbrain.sim.command.simulate``: the same worker pool, progress line and stored failing
seeds) and prints one row each:

- ``seeds/min``: wall clock, pool start-up included; on a machine shared with other work this
  is what the cores left over gave.
- ``cpu s/seed``: the CPU seconds (user + system, from ``resource.getrusage``) of the process
  and its worker processes over the whole run, per seed: the simulator's own cost, whatever
  the load. ``cpu seeds/min`` = 60 x jobs / that is what ``--jobs`` idle cores would give.
- ``simulate``/``check``: of that, the CPU seconds per seed each worker measured around running
  and judging a seed.
- ``speed-up``: virtual seconds simulated per wall second.

The load average before and after is printed with the table; say it when quoting figures.

With ``--against DIR`` (a baseline's source tree, e.g. ``git archive REV splitbrain | tar -x -C
DIR`` with the built ``*.so`` files copied in, or its pure-Python fallbacks run), each
``--jobs`` value runs in two child processes at the same time, this tree's and the baseline's,
so both see the same load from the rest of the machine, and the table adds the baseline's row
and the ratio of CPU seconds per seed (this tree / the baseline). Wall-clock columns then
count two runs sharing the cores.

    .venv/bin/python benchmarks/sim.py [--seeds 1..200] [--jobs 1,2] [--ops 300] [--mode dynamodb]
                                       [--against DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile

from rich.console import Console
from rich.table import Table

from splitbrain.sim.command import SeedSummary, parse_seeds, simulate
from splitbrain.sim.run import SimOptions


def _cpu() -> float:
    """CPU seconds used so far by this process and its reaped children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(opts: SimOptions, seeds: range, jobs: int, console: Console
            ) -> tuple[list[SeedSummary], float, float]:
    """Run ``seeds`` with ``jobs`` workers: the summaries, wall seconds and CPU seconds."""
    cpu = _cpu()
    with tempfile.TemporaryDirectory(prefix="i14-sim-bench-") as store_dir:
        done, wall = simulate(opts, seeds, jobs, store_dir, console)
    return done, wall, _cpu() - cpu


_COLUMNS = ("jobs", "seeds/min", "cpu s/seed", "simulate", "check", "cpu seeds/min",
            "virtual s/seed", "speed-up", "not valid")


def row(opts: SimOptions, seeds: range, jobs: int, console: Console) -> dict[str, float]:
    """One measured row: seeds/min, CPU s/seed and the rest of :data:`_COLUMNS`."""
    done, wall, cpu = measure(opts, seeds, jobs, console)
    n = len(done)
    virtual = sum(s.virtual_seconds for s in done)
    return {"jobs": jobs, "seeds/min": n / wall * 60, "cpu s/seed": cpu / n,
            "simulate": sum(s.cpu_simulate for s in done) / n,
            "check": sum(s.cpu_check for s in done) / n, "cpu seeds/min": 60 * jobs * n / cpu,
            "virtual s/seed": virtual / n, "speed-up": virtual / wall,
            "not valid": sum(s.valid is not True for s in done)}


def paired(argv: list[str], jobs: int, against: str) -> tuple[dict, dict]:
    """This tree's row and the baseline's for ``jobs``, measured by two child processes at
    the same time (each this script with ``--row``; the baseline's finds its ``splitbrain``
    first on PYTHONPATH)."""
    cmd = [sys.executable, os.path.abspath(__file__), *argv, "--jobs", str(jobs), "--row"]
    here = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    env = {**os.environ, "PYTHONPATH": os.path.abspath(against)}
    there = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
                             cwd=tempfile.gettempdir())
    rows = []
    for child in (here, there):
        out, _ = child.communicate()
        if child.returncode != 0:
            _exit(255, f"a measuring child exited with {child.returncode}: run it alone to "
                       f"see why ({' '.join(cmd)})")
        rows.append(json.loads(out.decode().strip().splitlines()[-1]))
    return rows[0], rows[1]


def _exit(code: int, sentence: str) -> None:
    print(sentence, file=sys.stderr)
    raise SystemExit(code)


def _cells(r: dict) -> list[str]:
    return [str(r["jobs"]), f"{r['seeds/min']:.0f}", f"{r['cpu s/seed']:.3f}",
            f"{r['simulate']:.3f}", f"{r['check']:.3f}", f"{r['cpu seeds/min']:.0f}",
            f"{r['virtual s/seed']:.2f}", f"{r['speed-up']:.1f}x", str(r["not valid"])]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="1..200")
    ap.add_argument("--jobs", default="1,2", help="comma-separated --jobs values to compare")
    ap.add_argument("--ops", type=int, default=300)
    ap.add_argument("--mode", default="dynamodb")
    ap.add_argument("--workload", default="register")
    ap.add_argument("--nemesis", default="partition,kill,pause,clock")
    ap.add_argument("--against", metavar="DIR", help="a baseline's source tree to measure at "
                                                     "the same time (see the module docstring)")
    ap.add_argument("--row", action="store_true", help=argparse.SUPPRESS)  # a child's JSON row
    args = ap.parse_args()
    if args.against is not None and not os.path.isdir(os.path.join(args.against, "splitbrain")):
        _exit(254, f"--against {args.against}: no splitbrain package in that directory; give a "
                   f"source tree (see benchmarks/sim.py's docstring)")
    opts = SimOptions(mode=args.mode, workload=args.workload, nemesis=args.nemesis, ops=args.ops)
    seeds = parse_seeds(args.seeds)
    jobs_values = [int(j) for j in args.jobs.split(",")]
    if args.row:
        print(json.dumps(row(opts, seeds, jobs_values[0], Console(stderr=True))))
        return
    console = Console(width=120)
    load_before = os.getloadavg()[0]
    table = Table(title=f"splitbrain sim: {len(seeds)} seeds of {opts.ops} {opts.mode} "
                        f"{opts.workload} ops, nemesis {opts.nemesis}")
    if args.against is not None:
        table.add_column("tree")
    for col in _COLUMNS:
        table.add_column(col, justify="right")
    if args.against is not None:
        table.add_column("cpu ratio", justify="right")
    rates = {}
    child_argv = ["--seeds", args.seeds, "--ops", str(args.ops), "--mode", args.mode,
                  "--workload", args.workload, "--nemesis", args.nemesis]
    for jobs in jobs_values:
        if args.against is None:
            r = row(opts, seeds, jobs, console)
            table.add_row(*_cells(r))
        else:
            r, base = paired(child_argv, jobs, args.against)
            table.add_row("this", *_cells(r), f"{r['cpu s/seed'] / base['cpu s/seed']:.3f}")
            table.add_row(args.against, *_cells(base), "1")
        rates[jobs] = r["seeds/min"]
    console.print(table)
    if 1 in rates and len(rates) > 1:
        most = max(rates)
        console.print(f"--jobs {most} gives {rates[most] / rates[1]:.2f}x the seeds/min of "
                      f"--jobs 1")
    console.print(f"load average (1 min): {load_before:.2f} before, {os.getloadavg()[0]:.2f} "
                  f"after, on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
