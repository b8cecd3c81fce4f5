"""Shrinking a failing seed: the smallest run of the same seed that still fails the same way.

"The same way" is a violation by the same checker, of the same anomaly type, on the same
key as the original's first violation (:func:`splitbrain.replay.target`). The seed, and so
its world, stays fixed; what shrinks, each stage starting from the smallest failing run of
the one before:

1. the faults: ddmin (Zeller and Hildebrandt, "Simplifying and Isolating Failure-Inducing
   Input", 2002) over the ordinals of the faults the schedule started, replayed through a
   :class:`~splitbrain.sim.sieve.Sieve`;
2. the ops: the smallest op count, found by bisection, that still fails (the workload's ops
   come in the same order, so fewer ops cut the run after the violation; the fault schedule
   ends with the ops, since its duration is ops / rate);
3. the run becomes a :class:`~splitbrain.replay.Replay` (its faults and ops as recorded),
   played from then on instead of drawn; if the played run does not fail the same way,
   shrinking stops at stage 2 and there is no replay;
4. the keys: only the failing key's ops and final reads are kept, or when that no longer
   fails, the fewest other keys' with them (ddmin over the other keys, trying none first);
   the dropped keys and ops are recorded in the replay;
5. the ops again: the shortest prefix of the kept ops that still fails (bisection);
6. the durations: each fault's duration is halved while the run still fails;
7. the ops once more: ddmin over the kept ops, with whatever runs the budget has left;
8. the idle start: every op and fault moved earlier by the first one's time, if that still
   fails;
9. the random draws (:mod:`.draws`), as Hypothesis shrinks a choice sequence: the played
   run is recorded, then edited, each edit kept only if the run still fails the same way:
   every draw trivial (0.0) at once; each source's draws all trivial; each source cut to
   its shortest failing prefix (the rest trivial); blocks of draws made trivial, or else
   deleted, halving each source's block size down to one draw, the world's draws first and
   the network's last; each remaining draw bisected towards 0. The replay carries the draws
   (:attr:`Replay.draws`) once an edit was kept. Stage 9 needs a played run: when stage 3
   fails, shrinking ends there.

Halving a fault or dropping an op leaves every other fault and op at its recorded time. A
final read is kept while some op touches its key.

Every candidate is a whole simulated run, so stages 1-8 stop after ``budget`` runs, and
stage 9 after its own :data:`DRAW_RUNS` runs or :data:`DRAW_CPU` CPU seconds, whichever comes
first (a run started is finished); the shrinker returns the smallest failing run it found by
then.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from typing import Callable, Hashable, Iterable

from splitbrain.errors import TesterFailure
from splitbrain.replay import (Draws, Op, Replay, Signature, from_history, nontrivial, target,
                               violations)
from splitbrain.sim.draws import Recorder, trimmed
from splitbrain.sim.loop import Deadlock, TimeLimit
from splitbrain.sim.run import SeedOutcome, SimOptions, history_digest, run_seed

#: Stage 9's budget: at most this many runs...
DRAW_RUNS = 100
#: ... and this many CPU seconds (checked before each run): a safety net for runs far slower
#: than usual (100 runs take 7-15 s), since a CPU limit makes where shrinking stops depend on
#: the machine's load, and the run budget does not.
DRAW_CPU = 30.0
#: Bisection steps per draw in stage 9's last pass.
BISECT_STEPS = 4


@dataclass
class Shrunk:
    """The smallest failing run found: its options (``ops`` and ``faults`` shrunk; when it
    was played, ``ops`` counts the replay's and ``faults`` is None: all of the replay's),
    outcome, the failure it keeps, the replay it was played from (None when stage 3 failed:
    then the options replay it), the size it started from, and how many runs the search
    took. ``draws_before`` is how many non-trivial random draws the played run made when
    stage 9 recorded it (None when it did not run); ``draws_runs`` and ``draws_cpu`` are the
    runs (its recording run included) and CPU seconds stage 9 took."""

    opts: SimOptions
    outcome: SeedOutcome
    signature: Signature
    faults_before: int
    ops_before: int
    runs: int
    replay: Replay | None = None
    seconds_before: float = 0.0
    draws_before: int | None = None
    draws_runs: int = 0
    draws_cpu: float = 0.0

    @property
    def faults(self) -> int:
        """How many faults the shrunk run has."""
        if self.replay is not None:
            return len(self.replay.faults)
        return len(self.opts.faults) if self.opts.faults is not None else self.faults_before

    @property
    def draws(self) -> int | None:
        """How many non-trivial random draws the shrunk run has (None: stage 9 did not
        run)."""
        if self.replay is not None and self.replay.draws is not None:
            return nontrivial(self.replay.draws)
        return self.draws_before

    @property
    def ops(self) -> int:
        """How many client ops the shrunk run has (final reads apart)."""
        return len(self.replay.ops) if self.replay is not None else self.opts.ops


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


def shortest(high: int, fails: Callable[[int], bool]) -> int:
    """The smallest n in 1..``high`` with ``fails(n)`` by bisection (``fails(high)`` is
    assumed; a failure is taken to persist as n grows)."""
    low = 1
    while low < high:
        mid = (low + high) // 2
        if fails(mid):
            high = mid
        else:
            low = mid + 1
    return high


class _OutOfRuns(Exception):
    pass


def shrink(opts: SimOptions, outcome: SeedOutcome, budget: int = 120, *,
           draw_runs: int = DRAW_RUNS, draw_cpu: float = DRAW_CPU) -> Shrunk | None:
    """Shrink ``outcome`` (a run of ``opts``); None when it has no violation to keep. Stages
    1-8 take at most ``budget`` runs; stage 9 ``draw_runs`` runs and ``draw_cpu`` CPU
    seconds."""
    sig = target(outcome.result)
    if sig is None:
        return None
    seed = outcome.seed
    started = _faults_started(outcome)
    best = Shrunk(opts, outcome, sig, started, opts.ops, 0,
                  seconds_before=outcome.virtual_seconds)
    tried: dict[Hashable, bool] = {}
    limit = {"runs": budget, "cpu": float("inf")}

    def attempt(key: Hashable, candidate: SimOptions, replay: Replay | None) -> bool:
        if key not in tried:
            if best.runs >= limit["runs"] or time.process_time() >= limit["cpu"]:
                raise _OutOfRuns
            best.runs += 1
            try:
                out = run_seed(candidate, seed, replay)
            except (TesterFailure, Deadlock, TimeLimit):  # e.g. no op left answered
                tried[key] = False
                return False
            tried[key] = sig in violations(out.result)
            if tried[key] and (replay is not None or _smaller(candidate, best.opts)):
                best.opts, best.outcome, best.replay = candidate, out, replay
        return tried[key]

    def fails(candidate: SimOptions) -> bool:
        return attempt((candidate.ops, candidate.faults), candidate, None)

    def plays(replay: Replay) -> bool:
        return attempt(json.dumps(replay.to_dict(), sort_keys=True),
                       dataclasses.replace(opts, faults=None, ops=len(replay.ops)), replay)

    try:
        keep = ddmin(list(range(started)),
                     lambda kept: fails(dataclasses.replace(best.opts, faults=tuple(kept))))
        faults = tuple(keep)
        shortest(best.opts.ops, lambda n: fails(dataclasses.replace(best.opts, faults=faults,
                                                                    ops=n)))
        recorded = from_history(best.outcome.history, opts.replay_options(), seed, sig)
        if not plays(recorded):
            return best
        others = [k for k in recorded.keys() if k != sig[2]]
        ddmin(list(range(len(others))),
              lambda kept: plays(recorded.only_keys([sig[2], *(others[i] for i in kept)])))
        played = best.replay
        assert played is not None
        shortest(len(played.ops), lambda n: plays(_with_ops(played, played.ops[:n])))
        for i in range(len(best.replay.faults)):
            while best.replay.faults[i].duration >= 0.002 and plays(_halved(best.replay, i)):
                pass
        played = best.replay
        ddmin(list(range(len(played.ops))),
              lambda kept: plays(_with_ops(played, [played.ops[i] for i in kept])))
        plays(_earlier(best.replay))
    except _OutOfRuns:
        pass
    if best.replay is None:
        return best
    played = best.replay
    recorder = Recorder()
    began, runs = time.process_time(), best.runs
    best.runs += 1
    again = run_seed(SimOptions.of_replay(played), seed, played, source=recorder)
    if history_digest(again.history) != history_digest(best.outcome.history):
        raise TesterFailure(f"recording seed {seed}'s random draws changed its run "
                            f"(splitbrain.sim.draws, rule 3); report this as a bug")
    recorded_draws = recorder.draws()
    best.draws_before = nontrivial(recorded_draws)
    limit.update(runs=best.runs + draw_runs, cpu=time.process_time() + draw_cpu)
    try:
        _shrink_draws(recorded_draws, lambda d: plays(dataclasses.replace(played, draws=d)))
    except _OutOfRuns:
        pass
    best.draws_runs, best.draws_cpu = best.runs - runs, time.process_time() - began
    return best


def _shrink_draws(recorded: Draws, plays: Callable[[Draws], bool]) -> Draws:
    """Stage 9 (see the module docstring) from ``recorded``, a run's draws for which
    ``plays`` holds; returns the smallest draws found for which it still holds (fewest
    non-trivial draws, then the smallest sum)."""
    current = {name: seq for name, seq in recorded.items() if seq}

    def keeps(candidate: Draws) -> bool:
        edited = {name: kept for name, seq in candidate.items() if (kept := trimmed(seq))}
        if _size(edited) >= _size(current) or not plays(edited):
            return False
        current.clear()
        current.update(edited)
        return True

    def edit(name: str, seq: tuple[float, ...]) -> bool:
        return keeps({**current, name: seq})

    if keeps({}):
        return current
    for name in sorted(current, key=lambda n: (-len(current[n]), n)):
        keeps({k: v for k, v in current.items() if k != name})
    for name in sorted(current, key=lambda n: (-len(current[n]), n)):
        seq = current[name]
        shortest(len(seq), lambda n: n == len(seq) or edit(name, seq[:n]))
    halvings = 1
    while any(len(seq) >> halvings for seq in current.values()):
        for name in sorted(current, key=_leverage):
            start, size = 0, len(current.get(name, ())) >> halvings
            while size and start < len(current.get(name, ())):
                seq = current[name]
                block = seq[start:start + size]
                zeroed = seq[:start] + (0.0,) * len(block) + seq[start + size:]
                deleted = seq[:start] + seq[start + size:]
                if not any(block) or edit(name, zeroed) or not edit(name, deleted):
                    start += size  # after a deletion, the next block is at ``start``
        halvings += 1
    for name in sorted(current, key=_leverage):
        for i in range(len(current.get(name, ()))):
            low = 0.0
            for _ in range(BISECT_STEPS):
                seq = current.get(name, ())
                if i >= len(seq) or seq[i] == 0.0:
                    break
                mid = (low + seq[i]) / 2
                if not edit(name, seq[:i] + (mid,) + seq[i + 1:]):
                    low = mid
    return current


def _leverage(name: str) -> tuple[int, str]:
    """The order stage 9 edits sources in, block by block: first those whose draws shape
    how the others are used (the world's decide whether the network draws loss,
    duplication and reordering at all), the network's, the most numerous, last."""
    first = ("world", "nemesis", "workload")
    return (first.index(name) if name in first else 4 if name == "net" else 3), name


def _size(draws: Draws) -> tuple[int, float]:
    """What stage 9 makes smaller: the non-trivial draws, then their sum."""
    return nontrivial(draws), sum(sum(seq) for seq in draws.values())


def _with_ops(replay: Replay, ops: Iterable[Op]) -> Replay:
    """``replay`` with only ``ops``, and only the final reads of keys they touch."""
    kept = tuple(ops)
    keys = {repr(o.key) for o in kept}
    return dataclasses.replace(replay, ops=kept, final_reads=tuple(
        r for r in replay.final_reads if repr(r.key) in keys))


def _earlier(replay: Replay) -> Replay:
    """``replay`` with every op and fault moved earlier by the time of the first of them."""
    first = min([o.time for o in replay.ops] + [f.start for f in replay.faults], default=0.0)
    return dataclasses.replace(
        replay, ops=tuple(dataclasses.replace(o, time=round(o.time - first, 9))
                          for o in replay.ops),
        faults=tuple(dataclasses.replace(f, start=round(f.start - first, 9))
                     for f in replay.faults))


def _halved(replay: Replay, i: int) -> Replay:
    """``replay`` with fault ``i`` lasting half as long (to the millisecond)."""
    faults = list(replay.faults)
    faults[i] = dataclasses.replace(faults[i], duration=round(faults[i].duration / 2, 3))
    return dataclasses.replace(replay, faults=tuple(faults))


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
