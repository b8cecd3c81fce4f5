"""Simulation throughput: seeds per minute and simulated-time/wall-time speed-up of
``splitbrain sim`` (target: 1,000 seeds/min for 300-op dynamodb register runs with faults on
2 cores with ``--jobs 2``).

Runs the seeds exactly as ``splitbrain sim`` does (``splitbrain.sim.command.simulate``, the
same worker pool) and prints one table: wall-clock seeds/min, the CPU seconds per seed spent
simulating and checking (on a machine shared with other work, CPU time is the simulator's own
cost: ``cpu seeds/min`` is what ``--jobs`` cores would give if they were free), and the
virtual seconds simulated per wall second.

    .venv/bin/python benchmarks/sim.py [--seeds 1..200] [--jobs 2] [--ops 300] [--mode dynamodb]
"""

from __future__ import annotations

import argparse
import tempfile

from rich.console import Console
from rich.table import Table

from splitbrain.sim.command import parse_seeds, simulate
from splitbrain.sim.run import SimOptions


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="1..200")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--ops", type=int, default=300)
    ap.add_argument("--mode", default="dynamodb")
    ap.add_argument("--workload", default="register")
    ap.add_argument("--nemesis", default="partition,kill,pause,clock")
    args = ap.parse_args()
    opts = SimOptions(mode=args.mode, workload=args.workload, nemesis=args.nemesis, ops=args.ops)
    console = Console()
    with tempfile.TemporaryDirectory(prefix="i14-sim-bench-") as store_dir:
        done, wall = simulate(opts, parse_seeds(args.seeds), args.jobs, store_dir, console)
    n = len(done)
    sim_cpu = sum(s.cpu_simulate for s in done) / n
    check_cpu = sum(s.cpu_check for s in done) / n
    virtual = sum(s.virtual_seconds for s in done)
    table = Table(title=f"splitbrain sim: {n} seeds of {opts.ops} {opts.mode} {opts.workload} "
                        f"ops, nemesis {opts.nemesis}, --jobs {args.jobs}")
    for col in ("seeds/min", "cpu s/seed simulate", "cpu s/seed check", "cpu seeds/min",
                "virtual s/seed", "speed-up", "not valid"):
        table.add_column(col, justify="right")
    table.add_row(f"{n / wall * 60:.0f}", f"{sim_cpu:.3f}", f"{check_cpu:.3f}",
                  f"{60 * args.jobs / (sim_cpu + check_cpu):.0f}", f"{virtual / n:.2f}",
                  f"{virtual / wall:.1f}x", str(sum(s.valid is not True for s in done)))
    console.print(table)


if __name__ == "__main__":
    main()
