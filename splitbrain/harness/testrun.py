"""``splitbrain test`` end to end: the options, the run directory, the cluster, the nemesis, the
run loop, the check and the report; and ``splitbrain check RUN_DIR``, which re-judges a stored
run from its test.json and history.jsonl."""

from __future__ import annotations

import asyncio
import contextlib
import random
import shlex
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator

from splitbrain.checkers import policy
from splitbrain.checkers.result import Result
from splitbrain.db.bugs import check_bugs
from splitbrain.db.config import MODES
from splitbrain.errors import BadInput, TesterFailure
from splitbrain.harness import store
from splitbrain.harness.cluster import Cluster, local_cluster
from splitbrain.harness.display import Display, Stats
from splitbrain.harness.runner import Runner, check
from splitbrain.history import History
from splitbrain.nemesis import combined, parse_kinds
from splitbrain.reports import write_run_report
from splitbrain.workloads import WORKLOADS, make

NETS = ("proxy", "netns", "auto")


@dataclass
class TestOptions:
    """Every option of a run; test.json records them all. The defaults are a meaningful
    60-second test: 5 dynamodb nodes, the register workload, partitions and kills."""

    __test__ = False  # not a pytest test class, despite the name

    mode: str = "dynamodb"
    workload: str = "register"
    nemesis: str = "partition,kill"
    nemesis_interval: float = 10.0
    nemesis_overlap: bool = False
    nodes: int = 5
    concurrency: int = 10
    rate: float = 100.0
    time_limit: float = 60.0
    net: str = "proxy"
    seed: int | None = None
    store: str = "store"
    recovery: float = 5.0
    op_timeout: float = 2.0
    leave_running: bool = False
    expect: tuple[str, ...] = field(default_factory=tuple)
    bug: tuple[str, ...] = field(default_factory=tuple)  # planted bugs (splitbrain.db.bugs)

    def validate(self) -> None:
        """BadInput, one sentence, for an option that cannot work."""
        if self.mode not in MODES:
            raise BadInput(f"--mode {self.mode!r} is not a mode; use one of {', '.join(MODES)}")
        if self.workload not in WORKLOADS:
            raise BadInput(f"--workload {self.workload!r} is not a workload; use one of "
                           f"{', '.join(WORKLOADS)}")
        if self.net not in NETS:
            raise BadInput(f"--net {self.net!r} is not a network; use one of {', '.join(NETS)}")
        parse_kinds(self.nemesis)
        for name, value, low in (("--nodes", self.nodes, 1), ("--concurrency", self.concurrency, 1)):
            if value < low:
                raise BadInput(f"{name} must be at least {low}, not {value}")
        for name, value in (("--rate", self.rate), ("--time-limit", self.time_limit),
                            ("--nemesis-interval", self.nemesis_interval),
                            ("--op-timeout", self.op_timeout)):
            if not value > 0:
                raise BadInput(f"{name} must be a positive number of seconds or ops, not {value:g}")
        if self.recovery < 0:
            raise BadInput(f"--recovery must not be negative, not {self.recovery:g}")
        try:
            self.expect = policy.parse_expect(self.expect)
            self.bug = tuple(check_bugs(self.bug, self.mode))
        except ValueError as e:
            raise BadInput(str(e)) from None

    @property
    def name(self) -> str:
        """The test's name in the store: ``<mode>-<workload>-<faults>``."""
        faults = "+".join(parse_kinds(self.nemesis)) or "none"
        return f"{self.mode}-{self.workload}-{faults}"

    def command(self) -> str:
        """The command line that reproduces this run (same options, same seed)."""
        defaults = TestOptions()
        args = ["splitbrain", "test"]
        for k, v in asdict(self).items():
            if k in ("leave_running",) or (v == getattr(defaults, k) and k != "seed"):
                continue
            flag = "--" + k.replace("_", "-")
            if k in ("expect", "bug"):
                for e in v:
                    args += [flag, e]
            elif isinstance(v, bool):
                args.append(flag)
            else:
                args += [flag, str(v)]
        return shlex.join(args)


@dataclass
class Outcome:
    """A finished run: where it is stored, its verdict (the policy's composed Result) and its
    report (or why the report could not be written)."""

    run_dir: Path
    result: Result
    test: dict[str, Any]
    report: Path | None = None
    report_error: str | None = None


def _test_record(opts: TestOptions, run_dir: Path, workload: Any) -> dict[str, Any]:
    return {"name": opts.name, "options": asdict(opts), "seed": opts.seed,
            "command": opts.command(), "workload": workload.describe(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "run_dir": str(run_dir),
            "net": None, "nodes": None}


@contextlib.asynccontextmanager
async def _left_running(cluster: Cluster) -> AsyncIterator[Cluster]:
    """Start ``cluster`` and leave it running after the test (``--leave-running``)."""
    try:
        await cluster.start()
    except BaseException:
        await cluster.stop()
        raise
    yield cluster


def run_test(opts: TestOptions, *, live: bool | None = None) -> Outcome:
    """Run one test as ``opts`` says and store it. Raises TesterFailure (the history kept on
    disk) when the tester cannot do its job or is interrupted."""
    opts.validate()
    if opts.seed is None:
        opts.seed = random.SystemRandom().randrange(2**31)
    workload = make(opts.workload, opts.mode)
    nemesis = combined(opts.nemesis, opts.nemesis_interval, overlap=opts.nemesis_overlap)
    try:
        run_dir = store.new_run_dir(opts.store, opts.name)
    except OSError as e:
        raise BadInput(f"cannot create a run directory under {opts.store} ({e.strerror}); "
                       f"choose a writable --store") from None
    test = _test_record(opts, run_dir, workload)
    store.write_json(run_dir / store.TEST_FILE, test)
    cluster = local_cluster(opts.mode, opts.nodes, run_dir / "cluster", net=opts.net,
                            detached=opts.leave_running, bugs=list(opts.bug),
                            delays="latency" in parse_kinds(opts.nemesis))

    def started(c: Cluster) -> None:
        test["net"] = c.net.kind
        test["nodes"] = list(c.names)
        test["cluster"] = c.config.to_dict()
        store.write_json(run_dir / store.TEST_FILE, test)

    stats = Stats()
    runner = Runner(workload, _left_running(cluster) if opts.leave_running else cluster,
                    run_dir / store.HISTORY_FILE, concurrency=opts.concurrency, rate=opts.rate,
                    time_limit=opts.time_limit, recovery=opts.recovery,
                    op_timeout=opts.op_timeout, seed=opts.seed, nemesis=nemesis if
                    nemesis.nemeses else None, stats=stats, on_cluster=started)
    where = f"the partial history is in {run_dir / store.HISTORY_FILE}"
    failure: str | None = None
    began = time.monotonic()
    try:
        with Display(stats, title=f"splitbrain {opts.name}", enabled=live):
            history = _run(runner)
    except KeyboardInterrupt:
        stopped = "left running" if opts.leave_running else "stopped"
        failure = f"interrupted; the cluster was {stopped} and {where}"
    except TesterFailure as e:
        failure = f"{str(e).rstrip('.')}; {where}"
    except Exception as e:  # a bug in the tester: still one sentence, still the history kept
        failure = f"the tester failed ({type(e).__name__}: {e}); {where}"
    test["duration"] = round(time.monotonic() - began, 3)  # every phase, start to stop
    store.write_json(run_dir / store.TEST_FILE, test)
    with contextlib.suppress(OSError):
        cluster.collect_logs(run_dir)
    if failure is not None:
        _report(run_dir)  # a report of the partial run, unchecked, when there is a history
        raise TesterFailure(failure)
    result = check(history, workload, expect=opts.expect, params=test.get("cluster"))
    store.write_results(run_dir, result)
    report, error = _report(run_dir)
    return Outcome(run_dir, result, test, report, error)


def _report(run_dir: Path) -> tuple[Path | None, str | None]:
    """Write report.html and junit.xml; (path, None), or (None, why) when that failed: the
    verdict stands without its report."""
    try:
        return write_run_report(run_dir), None
    except Exception as e:  # noqa: BLE001 - reported to the user as the reason
        return None, f"{type(e).__name__}: {e}"


def _run(runner: Runner) -> History:
    """Run the runner's loop; SIGTERM, like Ctrl-C, cancels it so the cluster is stopped."""

    async def main() -> History:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        assert task is not None
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
        try:
            return await runner.run()
        finally:
            loop.remove_signal_handler(signal.SIGTERM)

    try:
        return asyncio.run(main())
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None


def recheck(run_dir: str | Path) -> tuple[dict[str, Any], Result]:
    """Judge a stored run again from its test.json and history.jsonl (the checkers of its
    workload and mode); returns the test record and the composed verdict."""
    test = store.load_test(run_dir)
    options = test["options"]
    workload = make(options.get("workload", ""), options.get("mode", ""))
    return test, check(store.load_history(run_dir), workload,
                       expect=options.get("expect") or (), params=test.get("cluster"))


def verdict_word(valid: Any) -> str:
    return {True: "valid", False: "INVALID"}.get(valid, "unknown")


def summary(result: Result) -> list[str]:
    """One line per checker, then the overall verdict. A checker's line says INVALID only when
    one of its anomalies violates what the mode promises (the verdict policy's ``severity``);
    anomalies the mode permits are counted as such."""
    lines = []
    per_checker = result.details.get("results", {})
    counts: dict[str, dict[tuple[str, str], int]] = {}
    for a in result.anomalies:
        key = (a.get("type", "?"), a.get("severity", "violation"))
        by = counts.setdefault(a.get("checker", "?"), {})
        by[key] = by.get(key, 0) + 1
    for name, r in per_checker.items():
        mine = counts.get(name, {})
        violated = any(sev == "violation" for _, sev in mine)
        word = "INVALID" if violated else "unknown" if r.get("valid") == "unknown" else "valid"
        notes = [f"{n} {t}" + ("" if sev == "violation" else " permitted")
                 for (t, sev), n in mine.items()]
        if r.get("reason"):
            notes.append(r["reason"])
        by_fault = r.get("stats", {}).get("by_fault")
        if isinstance(by_fault, dict) and by_fault:
            notes.append("available " + ", ".join(f"{kind} {row['available']:.0%}"
                                                  for kind, row in by_fault.items()))
        lines.append(f"  {name:<14} {word}" + (f" ({'; '.join(notes)})" if notes else ""))
    if not per_checker and result.reason:
        lines.append(f"  {result.reason}")
    because = f" ({result.reason})" if result.reason and per_checker else ""
    lines.append(f"verdict: {verdict_word(result.valid)}{because}")
    return lines
