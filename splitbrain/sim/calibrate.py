"""``splitbrain calibrate --sim``: how often, and at what CPU cost, a simulated run catches
each planted bug, and how often a simulated run of the correct store is wrongly failed; the
record sits beside the real calibration's (:mod:`splitbrain.harness.calibrate`) on one page.

Rules:

- A bug's sim run is its catalogue run (:attr:`splitbrain.db.bugs.Bug.run`) as ``splitbrain
  sim`` options (:meth:`SimOptions.of_bug <splitbrain.sim.run.SimOptions.of_bug>`: the same
  mode, workload, ``--expect``, nemesis kinds and whatever else it sets: ``--keys``,
  ``--concurrency``, ``--rate``, ``--nemesis-interval``, the request budget...), the bug
  planted, ``ops`` client ops at the default rate (a run at twice the rate gets twice as many,
  so that every seed lasts ``ops / 100`` virtual seconds; by default 10 s, or three of the
  run's own fault intervals if longer); seeds ``seed``, ``seed + 1``, ...
  ``splitbrain sim --bug NAME`` runs the same options.
- Where the catalogue run does not set the pace, the plan's ``nemesis_interval`` does, and
  without one each seed is a swarm draw (:func:`splitbrain.sim.world.draw`): 0.2-1.5 s
  between faults, and faults that last as long or, in half the seeds, 4-8 s (longer than a
  dynamodb lease plus an election: the lease bugs need them). A seed also plays a random
  non-empty subset of the run's kinds, on a network with its own latency and, per seed at
  random, packet loss, duplication and reordering, and clocks with their own skew and drift.
  So a catalogue run with ``nemesis none`` still gets an imperfect network and clocks in sim.
- Clean seeds: ``clean`` per mode of the chosen bugs, no bug planted, going round that mode's
  distinct catalogue runs (as the real calibration's clean runs do).
- A bug is *caught* by a seed whose verdict is invalid; its catcher is the violation whose
  earliest op came first (:func:`~splitbrain.harness.calibrate.first_violation`, in virtual
  seconds). Its *CPU seconds to the first catch* are those of every seed, in seed order, up
  to and including the first catching one (simulating and checking, measured with
  ``time.process_time`` in the worker that ran it): what one core spends to find the bug,
  whatever ``jobs`` is.
- Stored as run directories: each bug's first catching seed and every clean seed that is not
  valid. A seed the tester could not finish counts as neither caught nor passed, with its
  one-sentence reason.
- The record passes iff every bug was caught in every seed and every clean seed was valid.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

from splitbrain.db.bugs import CATALOGUE, Bug
from splitbrain.harness.calibrate import (Row, clean_entries, first_violation, modes_of,
                                          summarize)
from splitbrain.harness.testrun import verdict_word
from splitbrain.sim.command import command, option_args, pool_map, store_run, validate
from splitbrain.sim.run import SimOptions, run_seed

#: The options of a bug's sim run its record shows.
SIM_RUN = ("mode", "workload", "nemesis", "expect", "ops", "nemesis_interval", "keys",
           "concurrency", "rate", "op_timeout", "request_timeout_ms")

#: One seed to run: ``(bug name or "clean", options, seed)``.
Job = tuple[str, SimOptions, int]


@dataclass
class SimPlan:
    """What to simulate: ``bugs`` (catalogue names), ``seeds`` seeds each, ``clean`` clean
    seeds per mode, each seed ``ops`` client ops at the default rate (None: the bug's default,
    :meth:`SimOptions.of_bug <splitbrain.sim.run.SimOptions.of_bug>`), over ``jobs`` worker processes; failing seeds are stored under ``store``."""

    bugs: list[str]
    seeds: int = 20
    clean: int = 20
    seed: int = 1
    ops: int | None = None
    jobs: int = 1
    store: str = "store"
    nemesis_interval: float | None = None  # None: each seed's world draws it

    @property
    def modes(self) -> list[str]:
        return modes_of(self.bugs)

    def runs(self) -> list[Job]:
        """Every seed to run, bug by bug, then the clean seeds mode by mode."""
        out = [(name, self.options(CATALOGUE[name], bug=(name,)), self.seed + i)
               for name in self.bugs for i in range(self.seeds)]
        for mode in self.modes:
            entries = clean_entries(mode)
            out += [("clean", self.options(entries[i % len(entries)]), self.seed + i)
                    for i in range(self.clean)]
        return out

    def options(self, entry: Bug, bug: tuple[str, ...] = ()) -> SimOptions:
        """The ``splitbrain sim`` options of ``entry``'s exposing run in this plan, with the
        bugs ``bug`` planted (none for a clean seed)."""
        return replace(SimOptions.of_bug(entry, self.ops, self.nemesis_interval), bug=bug)


def _seed(job: Job) -> Row:
    """Run one seed in a worker and describe it."""
    name, opts, seed = job
    row = Row(bug=name, mode=opts.mode, seed=seed, command="", kind="sim")
    try:
        out = run_seed(opts, seed)
    except Exception as e:  # noqa: BLE001 - a tester failure or a node bug: one line per seed
        row.error = f"{type(e).__name__}: {e}"
        return row
    row.command = command(opts, out)
    row.cpu_s = round(out.cpu_simulate + out.cpu_check, 4)
    row.verdict = verdict_word(out.result.valid)
    found = first_violation(out.result, out.history)
    if found is not None:
        t, row.checker, row.anomaly = found
        row.first_anomaly_s = round(t, 3) if t != float("inf") else None
    return row


def _store(job: Job, row: Row, store_dir: str) -> None:
    """Simulate ``job`` again (the same history: a seed is deterministic) and store it."""
    _, opts, seed = job
    row.run_dir = str(store_run(opts, run_seed(opts, seed), store_dir))


def calibrate_sim(plan: SimPlan, on_row: Callable[[int, int, Row], None] | None = None
                  ) -> dict[str, Any]:
    """Run ``plan`` and return its record (kind ``sim``); ``on_row(i, total, row)`` reports
    each seed as it finishes. BadInput before the first seed for options sim cannot run."""
    jobs = plan.runs()
    for _, opts, _ in jobs:
        validate(opts, plan.jobs)
    order = {(name, opts.mode, seed): i for i, (name, opts, seed) in enumerate(jobs)}
    rows: list[Row] = []
    for i, row in enumerate(pool_map(_seed, jobs, plan.jobs)):
        rows.append(row)
        if on_row:
            on_row(i, len(jobs), row)
    rows.sort(key=lambda r: order[(r.bug, r.mode, r.seed)])
    firsts = {}
    for row in rows:
        if row.caught and row.bug not in firsts:
            firsts[row.bug] = row
    for row in [*firsts.values(), *(r for r in rows if r.bug == "clean" and not r.passed
                                    and not r.error)]:
        _store(jobs[order[(row.bug, row.mode, row.seed)]], row, plan.store)
    return summarize_sim(plan, rows)


def summarize_sim(plan: SimPlan, rows: list[Row]) -> dict[str, Any]:
    """The real calibration's :func:`~splitbrain.harness.calibrate.summarize` of ``rows`` (in
    seed order per bug), kind ``sim``, each bug with its sim run, the ``fraction`` of seeds
    that caught it, and the seed and CPU seconds of its first catch (None when none did)."""
    record = summarize(plan, rows)  # type: ignore[arg-type]  # a plan with bugs and modes
    record["kind"] = "sim"
    for name, b in record["bugs"].items():
        opts = plan.options(CATALOGUE[name], bug=(name,))
        cpu, first = 0.0, None
        for r in sorted((r for r in rows if r.bug == name), key=lambda r: r.seed):
            cpu += r.cpu_s or 0.0
            if r.caught:
                first = r
                break
        b.update(
            sim_run={k: list(v) if isinstance(v, tuple) else v
                     for k, v in opts.describe().items() if k in SIM_RUN},
            command=_seeds_command(opts, plan),
            fraction=round(b["caught"] / b["seeds"], 3) if b["seeds"] else None,
            first_catch_seed=first.seed if first else None,
            cpu_to_first_catch_s=round(cpu, 3) if first else None)
    return record


def _seeds_command(opts: SimOptions, plan: SimPlan) -> str:
    """The ``splitbrain sim`` command that runs a bug's seeds of ``plan``."""
    return " ".join(["splitbrain sim", *option_args(opts),
                     f"--seeds {plan.seed}..{plan.seed + plan.seeds - 1}"])
