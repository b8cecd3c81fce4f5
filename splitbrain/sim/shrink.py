"""Shrinking a failing seed: the smallest run of the same seed that still fails the same way.

"The same way" is a violation by the same checker, of the same anomaly type, on the same
key as the original's first violation (:func:`target`). The seed, and so its world, stays
fixed; what shrinks is:

1. the faults: ddmin (Zeller and Hildebrandt, "Simplifying and Isolating Failure-Inducing
   Input", 2002) over the ordinals of the faults the schedule started, replayed through a
   :class:`~splitbrain.sim.sieve.Sieve`;
2. the ops: the smallest op count, found by bisection, that still fails (the workload's ops
   come in the same order, so fewer ops cut the run after the violation; the fault schedule
   ends with the ops, since its duration is ops / rate).

Every candidate is a whole simulated run, so the shrinker stops after ``budget`` runs and
returns the smallest failing run it found by then.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, Hashable

from splitbrain.checkers.result import Result
from splitbrain.sim.run import SeedOutcome, SimOptions, run_seed

Signature = tuple[str, str, str]


def violations(result: Result) -> list[Signature]:
    """(checker, anomaly type, key) of each violation in ``result``, in its order."""
    return [(str(a.get("checker")), str(a.get("type")), repr(a.get("key")))
            for a in result.anomalies if a.get("severity", "violation") == "violation"]


def target(result: Result) -> Signature | None:
    """What a shrunk run must still show: the first violation (None when there is none)."""
    found = violations(result)
    return found[0] if found else None


@dataclass
class Shrunk:
    """The smallest failing run found: its options (``ops`` and ``faults`` shrunk), outcome,
    the failure it keeps, and how many runs the search took."""

    opts: SimOptions
    outcome: SeedOutcome
    signature: Signature
    faults_before: int
    ops_before: int
    runs: int


def ddmin(items: list[int], fails: Callable[[list[int]], bool]) -> list[int]:
    """A 1-minimal sublist of ``items`` for which ``fails`` holds (``fails(items)`` is assumed);
    tries the empty list first."""
    if fails([]):
        return []
    n = 2
    while len(items) >= 2:
        size = -(-len(items) // n)
        chunks = [items[i:i + size] for i in range(0, len(items), size)]
        for candidate in chunks + [[x for x in items if x not in c] for c in chunks]:
            if fails(candidate):
                items, n = candidate, max(n - 1, 2)
                break
        else:
            if n >= len(items):
                break
            n = min(len(items), 2 * n)
    return items


class _OutOfRuns(Exception):
    pass


def shrink(opts: SimOptions, outcome: SeedOutcome, budget: int = 60) -> Shrunk | None:
    """Shrink ``outcome`` (a run of ``opts``); None when it has no violation to keep."""
    sig = target(outcome.result)
    if sig is None:
        return None
    seed = outcome.seed
    started = _faults_started(outcome)
    best = Shrunk(opts, outcome, sig, started, opts.ops, 0)
    tried: dict[Hashable, bool] = {}

    def fails(candidate: SimOptions) -> bool:
        key = (candidate.ops, candidate.faults)
        if key not in tried:
            if best.runs >= budget:
                raise _OutOfRuns
            best.runs += 1
            out = run_seed(candidate, seed)
            tried[key] = sig in violations(out.result)
            if tried[key] and _smaller(candidate, best.opts):
                best.opts, best.outcome = candidate, out
        return tried[key]

    try:
        keep = ddmin(list(range(started)),
                     lambda kept: fails(dataclasses.replace(best.opts, faults=tuple(kept))))
        faults = tuple(keep)
        low, high = 1, best.opts.ops
        while low < high:
            mid = (low + high) // 2
            if fails(dataclasses.replace(best.opts, faults=faults, ops=mid)):
                high = mid
            else:
                low = mid + 1
    except _OutOfRuns:
        pass
    return best


def _smaller(a: SimOptions, b: SimOptions) -> bool:
    fa = len(a.faults) if a.faults is not None else float("inf")
    fb = len(b.faults) if b.faults is not None else float("inf")
    return (fa, a.ops) < (fb, b.ops)


def _faults_started(outcome: SeedOutcome) -> int:
    """How many faults the run's schedule started (the nemesis's start invokes before the
    final heal): every fault is an invoke to start it and, unless time ran out, one to stop
    it."""
    nemesis = [e for e in outcome.history.events if e.process == "nemesis" and e.type == "invoke"]
    main = [e for e in nemesis if e.f != "heal"]
    return (len(main) + 1) // 2
