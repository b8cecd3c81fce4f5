"""Shrinking: how small ``splitbrain sim``'s shrinker makes planted bugs' failing seeds.

For each planted bug, runs seeds 1..N in order and shrinks each of the first ``--failing``
failing ones as ``splitbrain sim`` does (:func:`splitbrain.sim.shrink.shrink`), writes the
shrunk replay file, plays it from the file and checks that its history digest is the shrunk
run's; prints one table: the violation kept (checker, type, key), faults, ops, non-trivial
random draws (stage 9, :mod:`splitbrain.sim.draws`) and simulated seconds before -> after,
the runs and CPU seconds the search took, and of those the runs and CPU seconds of stage 9
alone (the draws).

    .venv/bin/python benchmarks/shrink.py [--seeds 20] [--failing 1] [--bug MODE:NAME ...]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from splitbrain import replay as replayfile
from splitbrain.sim.run import SeedOutcome, SimOptions, history_digest, run_seed
from splitbrain.sim.shrink import shrink

DEFAULT_BUGS = ["dynamodb:cas-at-forwarder", "dynamodb:strong-read-any-replica",
                "dynamo:vv-concurrent-as-descendant"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20, help="Seeds 1..N tried per bug.")
    ap.add_argument("--failing", type=int, default=1,
                    help="Failing seeds shrunk per bug (the first ones).")
    ap.add_argument("--bug", action="append", metavar="MODE:NAME",
                    help=f"A planted bug and its mode (default: {', '.join(DEFAULT_BUGS)}).")
    args = ap.parse_args()
    logging.getLogger("splitbrain").setLevel(logging.CRITICAL)
    table = Table(title="splitbrain sim: shrunk size of planted bugs' failing seeds")
    for col in ("bug", "seed (cpu s to find)", "violation kept", "faults", "ops", "draws",
                "sim s", "runs (draws)", "cpu s (draws)", "replay"):
        table.add_column(col, justify="left" if col in ("bug", "violation kept") else "right")
    for spec in args.bug or DEFAULT_BUGS:
        mode, _, bug = spec.partition(":")
        opts = SimOptions(mode=mode, bug=(bug,))
        failing = 0
        began = time.process_time()
        for seed in range(1, args.seeds + 1):
            outcome = run_seed(opts, seed)
            if outcome.result.valid is False:
                table.add_row(*_shrunk(f"{mode} {bug}", opts, outcome,
                                       time.process_time() - began))
                failing += 1
                if failing == args.failing:
                    break
                began = time.process_time()
        if not failing:
            table.add_row(f"{mode} {bug}", "-", f"no failing seed in 1..{args.seeds}",
                          *"-" * 7)
    Console(width=200).print(table)


def _shrunk(name: str, opts: SimOptions, outcome: SeedOutcome, cpu: float) -> list[str]:
    """The table row of one failing seed, shrunk (``cpu``: the seconds spent finding it)."""
    began = time.process_time()
    shrunk = shrink(opts, outcome)
    assert shrunk is not None
    spent = time.process_time() - began
    same = "-"
    if shrunk.replay is not None:
        with tempfile.TemporaryDirectory(prefix="splitbrain-shrink-bench-") as where:
            played = replayfile.load(shrunk.replay.write(Path(where) / replayfile.FILE))
        again = run_seed(SimOptions.of_replay(played), played.seed, played)  # as sim --replay
        same = "same digest" if history_digest(again.history) == \
            history_digest(shrunk.outcome.history) else "DIFFERS"
    checker, kind, key = shrunk.signature
    return [name, f"{outcome.seed} ({cpu:.1f})", f"{checker} {kind} {key}",
            f"{shrunk.faults_before} -> {shrunk.faults}", f"{shrunk.ops_before} -> {shrunk.ops}",
            "-" if shrunk.draws_before is None else f"{shrunk.draws_before:,} -> {shrunk.draws:,}",
            f"{shrunk.seconds_before:.2f} -> {shrunk.outcome.virtual_seconds:.2f}",
            f"{shrunk.runs} ({shrunk.draws_runs})", f"{spent:.1f} ({shrunk.draws_cpu:.1f})", same]


if __name__ == "__main__":
    main()
