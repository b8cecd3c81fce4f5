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

    .venv/bin/python benchmarks/sim.py [--seeds 1..200] [--jobs 1,2] [--ops 300] [--mode dynamodb]
"""

from __future__ import annotations

import argparse
import os
import resource
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="1..200")
    ap.add_argument("--jobs", default="1,2", help="comma-separated --jobs values to compare")
    ap.add_argument("--ops", type=int, default=300)
    ap.add_argument("--mode", default="dynamodb")
    ap.add_argument("--workload", default="register")
    ap.add_argument("--nemesis", default="partition,kill,pause,clock")
    args = ap.parse_args()
    opts = SimOptions(mode=args.mode, workload=args.workload, nemesis=args.nemesis, ops=args.ops)
    seeds = parse_seeds(args.seeds)
    console = Console(width=110)
    load_before = os.getloadavg()[0]
    table = Table(title=f"splitbrain sim: {len(seeds)} seeds of {opts.ops} {opts.mode} "
                        f"{opts.workload} ops, nemesis {opts.nemesis}")
    for col in ("jobs", "seeds/min", "cpu s/seed", "simulate", "check", "cpu seeds/min",
                "virtual s/seed", "speed-up", "not valid"):
        table.add_column(col, justify="right")
    rates = {}
    for jobs in (int(j) for j in args.jobs.split(",")):
        done, wall, cpu = measure(opts, seeds, jobs, console)
        n = len(done)
        virtual = sum(s.virtual_seconds for s in done)
        rates[jobs] = n / wall * 60
        table.add_row(str(jobs), f"{rates[jobs]:.0f}", f"{cpu / n:.3f}",
                      f"{sum(s.cpu_simulate for s in done) / n:.3f}",
                      f"{sum(s.cpu_check for s in done) / n:.3f}",
                      f"{60 * jobs * n / cpu:.0f}", f"{virtual / n:.2f}",
                      f"{virtual / wall:.1f}x", str(sum(s.valid is not True for s in done)))
    console.print(table)
    if 1 in rates and len(rates) > 1:
        most = max(rates)
        console.print(f"--jobs {most} gives {rates[most] / rates[1]:.2f}x the seeds/min of "
                      f"--jobs 1")
    console.print(f"load average (1 min): {load_before:.2f} before, {os.getloadavg()[0]:.2f} "
                  f"after, on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
