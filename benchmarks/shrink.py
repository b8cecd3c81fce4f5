"""Shrinking: how small ``splitbrain sim``'s shrinker makes a planted bug's first failing seed.

For each planted bug, runs seeds in order until one fails, shrinks it as ``splitbrain sim``
does (:func:`splitbrain.sim.shrink.shrink`), plays the shrunk replay once more and checks that
its history digest is the stored run's, and prints one table: the violation kept (checker,
type, key), faults, ops and simulated seconds before -> after, the runs and CPU seconds the
search took.

    .venv/bin/python benchmarks/shrink.py [--seeds 20] [--bug dynamodb:cas-at-forwarder ...]
"""

from __future__ import annotations

import argparse
import logging
import time

from rich.console import Console
from rich.table import Table

from splitbrain.sim.run import SimOptions, history_digest, run_seed
from splitbrain.sim.shrink import shrink

DEFAULT_BUGS = ["dynamodb:cas-at-forwarder", "dynamodb:strong-read-any-replica",
                "dynamo:vv-concurrent-as-descendant"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20, help="Seeds 1..N tried per bug.")
    ap.add_argument("--bug", action="append", metavar="MODE:NAME",
                    help=f"A planted bug and its mode (default: {', '.join(DEFAULT_BUGS)}).")
    args = ap.parse_args()
    logging.getLogger("splitbrain").setLevel(logging.CRITICAL)
    table = Table(title="splitbrain sim: shrunk size of each bug's first failing seed")
    for col in ("bug", "seed", "violation kept", "faults", "ops", "sim s", "runs", "cpu s",
                "replay"):
        table.add_column(col, justify="left" if col in ("bug", "violation kept") else "right")
    for spec in args.bug or DEFAULT_BUGS:
        mode, _, bug = spec.partition(":")
        opts = SimOptions(mode=mode, bugs=(bug,))
        began = time.process_time()
        for seed in range(1, args.seeds + 1):
            outcome = run_seed(opts, seed)
            if outcome.result.valid is False:
                break
        else:
            table.add_row(bug, "-", f"no failing seed in 1..{args.seeds}", *"-" * 6)
            continue
        found = time.process_time()
        shrunk = shrink(opts, outcome)
        assert shrunk is not None
        spent = time.process_time() - found
        same = "-"
        if shrunk.replay is not None:
            again = run_seed(shrunk.opts, seed, shrunk.replay)
            same = "same digest" if history_digest(again.history) == \
                history_digest(shrunk.outcome.history) else "DIFFERS"
        checker, kind, key = shrunk.signature
        table.add_row(f"{mode} {bug}", f"{seed} ({found - began:.1f} cpu s)",
                      f"{checker} {kind} {key}", f"{shrunk.faults_before} -> {shrunk.faults}",
                      f"{shrunk.ops_before} -> {shrunk.ops}",
                      f"{shrunk.seconds_before:.2f} -> {shrunk.outcome.virtual_seconds:.2f}",
                      str(shrunk.runs), f"{spent:.1f}", same)
    Console(width=200).print(table)


if __name__ == "__main__":
    main()
