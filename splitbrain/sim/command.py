"""``splitbrain sim``: many seeds, each a whole simulated run (:mod:`.run`), over ``--jobs``
worker processes; a progress line while they run, a summary table after, and every seed
that is not valid stored as a normal run directory (test.json, history.jsonl, results.json,
report.html) that ``splitbrain check``/``report``/``serve`` read like any other.

Exit codes as ``splitbrain test``: 0 every seed valid, 1 some seed invalid, 2 some seed
unknown (none invalid), 255 the tester failed on some seed (none invalid).
"""

from __future__ import annotations

import logging
import multiprocessing
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from splitbrain.checkers.result import merge_validity
from splitbrain.db.bugs import CATALOGUE
from splitbrain.db.config import MODES
from splitbrain.errors import BadInput, TesterFailure
from splitbrain.harness import store
from splitbrain.harness.runoptions import check_pacing, planted_and_expected
from splitbrain.history import write_jsonl
from splitbrain.nemesis import parse_kinds
from splitbrain import replay as replayfile
from splitbrain.replay import Replay, nontrivial
from splitbrain.sim.loop import Deadlock, TimeLimit
from splitbrain.sim.run import SeedOutcome, SimOptions, history_digest, judge, run_seed
from splitbrain.sim.shrink import shrink
from splitbrain.workloads import WORKLOADS, check_keys, make

#: What a seed's tester failure is recorded as (neither valid, invalid nor unknown).
ERROR = "error"

T = TypeVar("T")


def parse_seeds(spec: str) -> range:
    """``"A..B"`` -> seeds A to B inclusive; ``"N"`` -> seeds 1 to N. BadInput otherwise."""
    m = re.fullmatch(r"\s*(\d+)\s*(?:\.\.\s*(\d+)\s*)?", spec)
    if m is None:
        raise BadInput(f"--seeds {spec!r} is neither a count (e.g. 100) nor a range (e.g. "
                       f"1..100); pass one of those")
    if m.group(2) is None:
        count = int(m.group(1))
        if count < 1:
            raise BadInput("--seeds 0 runs nothing; pass a count of at least 1")
        return range(1, count + 1)
    low, high = int(m.group(1)), int(m.group(2))
    if high < low:
        raise BadInput(f"--seeds {spec} is an empty range; write the lower seed first")
    return range(low, high + 1)


def validate(opts: SimOptions, jobs: int) -> None:
    """BadInput, one sentence, for options a simulation cannot run with (``--bug`` and
    ``--expect`` exactly as ``splitbrain test``); ``opts.bug`` is left without repeats."""
    if opts.mode not in MODES:
        raise BadInput(f"--mode {opts.mode!r} is not a mode; use one of {', '.join(MODES)}")
    if opts.workload not in WORKLOADS:
        raise BadInput(f"--workload {opts.workload!r} is not a workload; use one of "
                       f"{', '.join(WORKLOADS)}")
    parse_kinds(opts.nemesis)
    opts.bug, opts.expect = planted_and_expected(opts.mode, opts.workload, opts.bug, opts.expect)
    if opts.ops < 1:
        raise BadInput(f"--ops must be at least 1, not {opts.ops}")
    check_keys(opts.workload, opts.keys)
    check_pacing(concurrency=opts.concurrency, rate=opts.rate, op_timeout=opts.op_timeout,
                 nemesis_interval=opts.nemesis_interval,
                 request_timeout_ms=opts.request_timeout_ms)
    if jobs < 1:
        raise BadInput(f"--jobs must be at least 1, not {jobs}")


@dataclass
class SeedSummary:
    """What a worker sends back for one seed (the history stays in the worker)."""

    seed: int
    valid: Any
    reason: str = ""
    anomalies: dict[str, int] = field(default_factory=dict)
    events: int = 0
    virtual_seconds: float = 0.0
    digest: str = ""
    run_dir: str | None = None
    cpu_simulate: float = 0.0
    cpu_check: float = 0.0


def _simulate(job: tuple[SimOptions, int, str]) -> SeedSummary:
    """Run one seed in a worker; store it when it is not valid."""
    opts, seed, store_dir = job
    try:
        outcome = run_seed(opts, seed)
    except (TesterFailure, Deadlock, TimeLimit) as e:
        return SeedSummary(seed, ERROR, reason=str(e))
    except Exception as e:  # a bug in the node or the tester: still one line for this seed
        return SeedSummary(seed, ERROR, reason=f"{type(e).__name__}: {e}")
    result = outcome.result
    anomalies: dict[str, int] = {}
    for a in result.anomalies:
        if a.get("severity", "violation") == "violation":
            anomalies[a.get("type", "?")] = anomalies.get(a.get("type", "?"), 0) + 1
    summary = SeedSummary(seed, result.valid, reason=result.reason or "", anomalies=anomalies,
                          events=len(outcome.history.events),
                          virtual_seconds=outcome.virtual_seconds,
                          digest=history_digest(outcome.history),
                          cpu_simulate=outcome.cpu_simulate, cpu_check=outcome.cpu_check)
    if result.valid is not True:
        summary.run_dir = str(store_run(opts, outcome, store_dir))
    return summary


def store_run(opts: SimOptions, outcome: SeedOutcome, store_dir: str,
              replay: Replay | None = None) -> Path:
    """Write ``outcome`` as a run directory under ``store_dir``; returns it. With ``replay``
    (the schedule ``outcome`` played) it writes it as :data:`splitbrain.replay.FILE`, and the
    run's reproduce command plays it."""
    from splitbrain.reports import write_run_report

    faults = "+".join(parse_kinds(opts.nemesis)) or "none"
    name = f"sim-{opts.mode}-{opts.workload}-{faults}"
    try:
        run_dir = store.new_run_dir(store_dir, name)
    except OSError as e:
        raise BadInput(f"cannot create a run directory under {store_dir} ({e.strerror}); "
                       f"choose a writable --store") from None
    options = {**opts.describe(), "seed": outcome.seed, "net": "sim"}
    again = command(opts, outcome)
    if replay is not None:
        again = f"splitbrain sim --replay {replay.write(run_dir / replayfile.FILE)}"
    store.write_json(run_dir / store.TEST_FILE, {
        "name": name, "options": options, "seed": outcome.seed, "command": again,
        "digest": history_digest(outcome.history),
        "workload": {"name": opts.workload, "mode": opts.mode}, "run_dir": str(run_dir),
        "net": "sim", "nodes": [n["name"] for n in outcome.config["nodes"]],
        "cluster": outcome.config, "world": outcome.world.describe(),
        "virtual_seconds": outcome.virtual_seconds})
    write_jsonl(outcome.history.events, run_dir / store.HISTORY_FILE)
    store.write_results(run_dir, judge(outcome.history, make(opts.workload, opts.mode,
                                                                keys=opts.keys),
                                       outcome.config, predict=True, expect=opts.expect))
    try:
        write_run_report(run_dir)
    except Exception:  # noqa: BLE001 - the verdict and history stand without the report
        logging.getLogger("splitbrain.sim").warning("no report for %s", run_dir)
    return run_dir


def command(opts: SimOptions, outcome: SeedOutcome) -> str:
    """The command line that replays this seed (exactly: same options, same seed)."""
    seed = outcome.seed
    return " ".join(["splitbrain sim", *option_args(opts), f"--seeds {seed}..{seed}",
                     "--no-shrink"])


def option_args(opts: SimOptions) -> list[str]:
    """``opts`` as ``splitbrain sim`` arguments: those that differ from the defaults, which
    with a planted bug are its catalogue run's (:meth:`SimOptions.of_bug`)."""
    defaults = SimOptions.of_bug(CATALOGUE[opts.bug[0]]) if opts.bug else SimOptions()
    args = [f"--{k.replace('_', '-')} {v}" for k, v in asdict(opts).items()
            if v != getattr(defaults, k)
            and k in ("mode", "workload", "nemesis", "ops", "nemesis_interval", "keys",
                      "concurrency", "rate", "op_timeout", "request_timeout_ms")]
    if opts.faults is not None:
        args.append(f"--faults '{','.join(map(str, opts.faults))}'")
    if opts.lying_disks:
        args.append("--lying-disks")
    args += [f"--bug {name}" for name in opts.bug]
    args += [f"--expect {name}" for name in opts.expect]
    return args


def parse_faults(spec: str | None) -> tuple[int, ...] | None:
    """``"0,3"`` -> (0, 3); ``""`` -> () (no fault); None -> None (every fault)."""
    if spec is None:
        return None
    try:
        return tuple(sorted({int(x) for x in spec.split(",") if x.strip()}))
    except ValueError:
        raise BadInput(f"--faults {spec!r} is not a comma-separated list of fault numbers "
                       f"(0 for a seed's first fault); pass e.g. --faults 0,2") from None


def simulate(opts: SimOptions, seeds: range, jobs: int, store_dir: str,
             console: Console) -> tuple[list[SeedSummary], float]:
    """Run every seed over ``jobs`` processes with a progress line on ``console``; the
    summaries in seed order and the wall-clock seconds taken."""
    started = time.perf_counter()
    done: list[SeedSummary] = []
    failures = 0
    progress = Progress(TextColumn("[bold]sim[/]"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[failures]} failing, {task.fields[rate]} seeds/s"),
                        TimeElapsedColumn(), console=console, transient=True)
    with progress:
        task = progress.add_task("seeds", total=len(seeds), failures=0, rate="-")
        for s in _each(opts, seeds, jobs, store_dir):
            done.append(s)
            failures += s.valid is not True
            elapsed = time.perf_counter() - started
            progress.update(task, advance=1, failures=failures,
                            rate=f"{len(done) / elapsed:.1f}" if elapsed else "-")
    return sorted(done, key=lambda s: s.seed), time.perf_counter() - started


def _each(opts: SimOptions, seeds: range, jobs: int, store_dir: str) -> Iterator[SeedSummary]:
    yield from pool_map(_simulate, [(opts, seed, store_dir) for seed in seeds], jobs)


def pool_map(fn: Callable[[Any], T], work: list[Any], jobs: int) -> Iterator[T]:
    """``fn`` of each of ``work``, in ``jobs`` worker processes (this one when 1), in the order
    they finish."""
    if jobs == 1:
        _quiet()
        yield from map(fn, work)
        return
    # fork: the workers inherit the imported modules; spawn would re-import per worker.
    with multiprocessing.get_context("fork").Pool(jobs, initializer=_quiet) as pool:
        yield from pool.imap_unordered(fn, work, chunksize=1)


def _quiet() -> None:
    """Node logs (a killed node's errors are expected) stay out of the progress line."""
    logging.getLogger("splitbrain").setLevel(logging.CRITICAL)


def report(summaries: list[SeedSummary], wall: float, console: Console) -> int:
    """Print the summary table and the failing seeds; returns the exit code."""
    counts = {"valid": 0, "invalid": 0, "unknown": 0, ERROR: 0}
    for s in summaries:
        counts[{True: "valid", False: "invalid", ERROR: ERROR}.get(s.valid, "unknown")] += 1
    virtual = sum(s.virtual_seconds for s in summaries)
    table = Table(title="splitbrain sim")
    for col in ("seeds", "valid", "invalid", "unknown", "errors", "seeds/min", "sim s",
                "speed-up"):
        table.add_column(col, justify="right")
    table.add_row(str(len(summaries)), *(str(counts[k]) for k in counts),
                  f"{len(summaries) / wall * 60:.0f}", f"{virtual:.1f}",
                  f"{virtual / wall:.1f}x")
    console.print(table)
    for s in summaries:
        if s.valid is True:
            continue
        what = ", ".join(f"{n} {t}" for t, n in sorted(s.anomalies.items())) or s.reason
        word = {False: "INVALID", ERROR: "tester failed"}.get(s.valid, "unknown")
        where = f" -> {s.run_dir}" if s.run_dir else ""
        console.print(f"seed {s.seed}: {word} ({what}){where}", markup=False, highlight=False,
                      soft_wrap=True)
    if counts["invalid"]:
        return 1
    if counts[ERROR]:
        return 255
    verdict = merge_validity(*(s.valid for s in summaries))
    return 0 if verdict is True else 2


def shrink_first(opts: SimOptions, summaries: list[SeedSummary], store_dir: str,
                 console: Console) -> None:
    """Shrink the lowest seed with a violation, print the shrunk schedule and store it (with
    its replay file when the shrunk run was played from one)."""
    failing = [s for s in summaries if s.valid is False]
    if not failing:
        return
    seed = failing[0].seed
    console.print(f"shrinking seed {seed}...", markup=False, highlight=False)
    shrunk = shrink(opts, run_seed(opts, seed))
    if shrunk is None:
        return
    checker, kind, key = shrunk.signature
    lines = [f"seed {seed} shrunk in {shrunk.runs} runs: {checker} {kind} on key {key} with "
             f"{shrunk.faults} of {shrunk.faults_before} faults and {shrunk.ops} of "
             f"{shrunk.ops_before} ops, {shrunk.outcome.virtual_seconds:.2f} of "
             f"{shrunk.seconds_before:.2f} simulated seconds"
             + (f", random draws {shrunk.draws_before:,} -> {shrunk.draws:,} non-trivial "
                f"(in {shrunk.draws_runs} of the runs)" if shrunk.draws_before is not None
                else "")]
    if shrunk.replay is not None:
        lines += ["  " + line for line in shrunk.replay.describe()]
    else:
        lines.append("  (played from a list, the shrunk run no longer fails this way, so it is "
                     "replayed from its seed and options)")
        lines += [f"  t={e.time / 1e9:8.3f} s  {e.f} {e.value}"
                  for e in shrunk.outcome.history.events
                  if e.process == "nemesis" and e.type == "info" and e.f != "heal"]
    run_dir = store_run(shrunk.opts, shrunk.outcome, store_dir, shrunk.replay)
    lines += [f"  stored: {run_dir}", f"  replay: {store.load_test(run_dir)['command']}"]
    for line in lines:
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def replay_main(path: str, store_dir: str) -> int:
    """``splitbrain sim --replay FILE``: play the file on its seed's world, store the run,
    print its verdict, its history's digest and whether the recorded violation came back;
    returns the exit code (as ``test``: the verdict's)."""
    replay = replayfile.load(path)
    opts = SimOptions.of_replay(replay)
    validate(opts, 1)
    _quiet()
    try:
        outcome = run_seed(opts, replay.seed, replay)
    except (Deadlock, TimeLimit) as e:
        raise TesterFailure(f"the simulation of {path} stopped: {e}") from None
    run_dir = store_run(opts, outcome, store_dir, replay)
    console = Console(file=sys.stdout)
    word = {True: "valid", False: "INVALID"}.get(outcome.result.valid, "unknown")
    found = replayfile.violations(outcome.result)
    draws = "" if replay.draws is None else \
        f", {nontrivial(replay.draws):,} non-trivial random draws"
    lines = [f"replayed {path}: seed {replay.seed}, {len(replay.faults)} faults, "
             f"{len(replay.ops)} ops{draws}: {word}",
             f"  history digest {history_digest(outcome.history)}"]
    if replay.expect is not None:
        what = " ".join(replay.expect[:2]) + f" on key {replay.expect[2]}"
        lines.append(f"  reproduced: {what}" if replay.expect in found
                     else f"  NOT reproduced: {what}")
    lines.append(f"  stored: {run_dir}")
    for line in lines:
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    return {True: 0, False: 1}.get(outcome.result.valid, 2)


def main(opts: SimOptions, seeds: str, jobs: int, store_dir: str, *, shrinking: bool = True
         ) -> int:
    """``splitbrain sim``: returns the exit code."""
    validate(opts, jobs)
    console = Console(file=sys.stdout)
    for name in opts.bug:
        console.print(f"planted bug: {name}", style="red", markup=False, highlight=False)
    summaries, wall = simulate(opts, parse_seeds(seeds), jobs, store_dir,
                               Console(file=sys.stderr))
    code = report(summaries, wall, console)
    if shrinking:
        shrink_first(opts, summaries, store_dir, console)
    return code
