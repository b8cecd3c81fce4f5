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
from splitbrain.db.client import NodeClient
from splitbrain.db.config import MODES
from splitbrain.errors import BadInput, TesterFailure
from splitbrain.etcd.client import EtcdClient
from splitbrain.harness.etcdcluster import NO_PROXY, local_etcd_cluster, ssh_etcd_cluster
from splitbrain.etcd.nodes import find_etcd
from splitbrain.harness import store
from splitbrain.harness.cluster import Cluster, local_cluster
from splitbrain.harness.display import Display, Stats
from splitbrain.harness.hostcluster import HostCluster
from splitbrain.harness.interfaces import LogSource
from splitbrain.harness.networks import NET_KINDS
from splitbrain.harness.runoptions import check_pacing, planted_and_expected
from splitbrain.harness.runner import Runner, check
from splitbrain.harness.sshcluster import check_layout, parse_hosts, ssh_cluster
from splitbrain.history import History
from splitbrain import replay as replayfile
from splitbrain.nemesis import Schedule, combined, parse_kinds
from splitbrain.nemesis.schedule import Played
from splitbrain.plugins import make_workload, workload_class
from splitbrain.remote.ssh import DEFAULT_REMOTE_DIR, SshOptions
from splitbrain.replay import Replay
from splitbrain.reports import write_run_report
from splitbrain.workloads import WORKLOADS, check_keys
from splitbrain.workloads.replay import Replayed


#: The systems ``--db`` can test: splitbrain's own node, or etcd.
DATABASES = ("splitbrain", "etcd")
ETCD_WORKLOADS = ("register", "set")
#: ``--etcd-reads``: the consistency etcd's reads have, as the history records it.
ETCD_READS = {"linearizable": ("strong",), "serializable": ("eventual",)}


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
    r: int | None = None
    w: int | None = None
    hosts: str = ""
    ssh_user: str | None = None
    ssh_key: str | None = None
    ssh_port: int = 22
    ssh_known_hosts: str | None = None
    ssh_accept_new: bool = False
    remote_dir: str = DEFAULT_REMOTE_DIR
    db: str = "splitbrain"
    etcd_bin: str | None = None
    etcd_reads: str = "linearizable"
    bug: tuple[str, ...] = field(default_factory=tuple)  # planted bugs (splitbrain.db.bugs)
    replay: str | None = None  # a replay file (splitbrain.replay) to play instead of drawing
    keys: int | None = None  # the register's keys in use at a time, the set's keys
    request_timeout_ms: int | None = None  # the node's request budget (node default: 1000)

    def adopt_replay(self) -> Replay | None:
        """Load :attr:`replay` (BadInput if it cannot be played on real nodes) and take the
        options it records; None without one."""
        if self.replay is None:
            return None
        replay = replayfile.load(self.replay)
        o = replay.options
        if o["lying_disks"]:
            raise BadInput(f"{self.replay} plants lying disks, which only the simulator has; "
                           f"real nodes' disks cannot be made to lie, so play it with "
                           f"'splitbrain sim --replay'")
        self.mode, self.workload, self.nodes = o["mode"], o["workload"], o["nodes"]
        self.concurrency, self.op_timeout = o["concurrency"], float(o["op_timeout"])
        self.recovery, self.bug = float(o["recovery"]), tuple(o["bugs"])
        self.request_timeout_ms = o.get("request_timeout_ms")
        self.nemesis = ",".join(replay.kinds) or "none"
        return replay

    def validate(self) -> None:
        """BadInput, one sentence, for an option that cannot work."""
        if self.db not in DATABASES:
            raise BadInput(f"--db {self.db!r} is not a database splitbrain can test; use one of "
                           f"{', '.join(DATABASES)}")
        if self.db == "etcd":
            self._validate_etcd()
        if self.mode not in MODES:
            raise BadInput(f"--mode {self.mode!r} is not a mode; use one of {', '.join(MODES)}")
        if self.workload not in WORKLOADS:
            workload_class(self.workload)  # a plugin, or BadInput naming the known ones
        if self.net not in NET_KINDS:
            raise BadInput(f"--net {self.net!r} is not a network; use one of "
                           f"{', '.join(NET_KINDS)}")
        parse_kinds(self.nemesis)
        check_keys(self.workload, self.keys)
        if self.nodes < 1:
            raise BadInput(f"--nodes must be at least 1, not {self.nodes}")
        check_pacing(concurrency=self.concurrency, rate=self.rate, op_timeout=self.op_timeout,
                     nemesis_interval=self.nemesis_interval,
                     request_timeout_ms=self.request_timeout_ms)
        if not self.time_limit > 0:
            raise BadInput(f"--time-limit must be a positive number of seconds, not "
                           f"{self.time_limit:g}")
        if self.recovery < 0:
            raise BadInput(f"--recovery must not be negative, not {self.recovery:g}")
        self._validate_quorum()
        self.bug, self.expect = planted_and_expected(self.mode, self.workload, self.bug,
                                                     self.expect)
        if self.hosts:
            self._validate_hosts()

    def _validate_quorum(self) -> None:
        if self.r is None and self.w is None:
            return
        if self.mode == "dynamodb":
            raise BadInput("--r and --w set the quorums of the dynamo and lww modes; dynamodb "
                           "replicates by Paxos majorities, so leave them out")
        n = min(3, self.nodes)
        for name, value in (("--r", self.r), ("--w", self.w)):
            if value is not None and not 1 <= value <= n:
                raise BadInput(f"{name} must be between 1 and N={n} (the replicas of a key), "
                               f"not {value}")

    def cluster_params(self) -> dict[str, int]:
        """The cluster config fields these options set (the read and write quorums, the
        request budget)."""
        return {k: v for k, v in (("r", self.r), ("w", self.w),
                                  ("request_timeout_ms", self.request_timeout_ms))
                if v is not None}

    def _validate_hosts(self) -> None:
        check_layout(parse_hosts(self.hosts), self.nodes, self.net)
        if self.leave_running:
            raise BadInput("--leave-running is for local clusters; on --hosts use "
                           "'splitbrain cluster up --hosts ...' instead")
        self.ssh_options().validate()

    def ssh_options(self) -> SshOptions:
        """How to reach --hosts."""
        return SshOptions(user=self.ssh_user, key=self.ssh_key, port=self.ssh_port,
                          known_hosts=self.ssh_known_hosts, accept_new=self.ssh_accept_new,
                          remote_dir=self.remote_dir)

    def _validate_etcd(self) -> None:
        if self.mode != "dynamodb":
            raise BadInput(f"--mode {self.mode} is a mode of splitbrain's own node; etcd has "
                           f"one (judged by dynamodb's promises: linearizable reads are strong "
                           f"reads, serializable ones eventual), so drop --mode")
        if self.workload not in ETCD_WORKLOADS:
            raise BadInput(f"--db etcd runs the {' and '.join(ETCD_WORKLOADS)} workloads, not "
                           f"{self.workload}")
        if self.request_timeout_ms is not None:
            raise BadInput("--request-timeout-ms sets splitbrain's node's request budget, "
                           "which etcd does not read; drop it")
        if self.etcd_reads not in ETCD_READS:
            raise BadInput(f"--etcd-reads {self.etcd_reads!r} is not etcd's; use one of "
                           f"{', '.join(ETCD_READS)}")
        if "clock" in parse_kinds(self.nemesis):
            raise BadInput("the clock nemesis cannot skew etcd: etcd has no clock API and "
                           "libfaketime cannot move a running process's clock backwards "
                           "safely; drop clock from --nemesis")
        if not self.hosts and self.net == "proxy":
            raise BadInput(f"--db etcd cannot run on --net proxy: {NO_PROXY}")
        if self.leave_running:
            raise BadInput("--leave-running keeps splitbrain nodes only; drop it with --db etcd")
        if self.bug:
            raise BadInput("--bug plants bugs in splitbrain's own node; etcd is tested as it is, "
                           "so drop --bug with --db etcd")
        find_etcd(self.etcd_bin)

    @property
    def name(self) -> str:
        """The test's name in the store: ``<mode>-<workload>-<faults>`` (``etcd-...`` for
        etcd)."""
        faults = "+".join(parse_kinds(self.nemesis)) or "none"
        system = "etcd" if self.db == "etcd" else self.mode
        return f"{system}-{self.workload}-{faults}"

    def make_cluster(self, root: Path) -> Any:
        """The cluster these options describe, not yet started."""
        if self.db == "etcd":
            binary = find_etcd(self.etcd_bin)
            if self.hosts:
                return ssh_etcd_cluster(parse_hosts(self.hosts), self.ssh_options(), root,
                                        binary)
            return local_etcd_cluster(self.nodes, root, binary, net=self.net)
        if self.hosts:
            return ssh_cluster(self.mode, parse_hosts(self.hosts), self.ssh_options(), root,
                               bugs=list(self.bug), **self.cluster_params())
        return local_cluster(self.mode, self.nodes, root, net=self.net,
                             detached=self.leave_running, bugs=list(self.bug),
                             delays="latency" in parse_kinds(self.nemesis),
                             **self.cluster_params())

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
    replay = opts.adopt_replay()
    opts.validate()
    if opts.seed is None:
        opts.seed = random.SystemRandom().randrange(2**31)
    workload = make_workload(opts.workload, opts.mode, reads=ETCD_READS.get(opts.etcd_reads)
                             if opts.db == "etcd" else None, keys=opts.keys)
    nemesis: Schedule | Played = combined(opts.nemesis, opts.nemesis_interval,
                                          overlap=opts.nemesis_overlap)
    pace: dict[str, Any] = {"rate": opts.rate, "time_limit": opts.time_limit}
    if replay is not None:
        workload = Replayed(workload, replay.ops, replay.final_reads, opts.concurrency)
        nemesis = Played(replay.faults)
        pace = {"rate": None, "time_limit": replay.end()}
    try:
        run_dir = store.new_run_dir(opts.store, opts.name)
    except OSError as e:
        raise BadInput(f"cannot create a run directory under {opts.store} ({e.strerror}); "
                       f"choose a writable --store") from None
    test = _test_record(opts, run_dir, workload)
    store.write_json(run_dir / store.TEST_FILE, test)
    cluster = opts.make_cluster(run_dir / "cluster")
    nemesis.check(cluster)

    def started(c: Cluster) -> None:
        test["net"] = c.net.kind
        test["nodes"] = list(c.names)
        test["cluster"] = c.describe() if isinstance(c, HostCluster) else c.config.to_dict()
        store.write_json(run_dir / store.TEST_FILE, test)

    stats = Stats()
    runner = Runner(workload, _left_running(cluster) if opts.leave_running else cluster,
                    run_dir / store.HISTORY_FILE, concurrency=opts.concurrency, **pace,
                    recovery=opts.recovery,
                    op_timeout=opts.op_timeout, seed=opts.seed, nemesis=nemesis if
                    nemesis.nemeses else None, stats=stats, on_cluster=started,
                    client_factory=EtcdClient if opts.db == "etcd" else NodeClient)
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
    if runner.catch_up is not None:
        test["catch_up"] = runner.catch_up  # how long the final reads waited for replicas
    store.write_json(run_dir / store.TEST_FILE, test)
    with contextlib.suppress(OSError, TesterFailure):
        if isinstance(cluster, LogSource):
            asyncio.run(cluster.collect_logs(run_dir))
    if failure is not None:
        _report(run_dir)  # a report of the partial run, unchecked, when there is a history
        raise TesterFailure(failure)
    result = check(history, workload, expect=opts.expect, params=test.get("cluster"))
    if replay is not None and replay.expect is not None:
        found = replayfile.violations(result)
        test["replay"] = {"expect": dict(zip(("checker", "type", "key"), replay.expect)),
                          "reproduced": replay.expect in found,
                          "other_keys": sorted({k for c, t, k in found
                                                if (c, t) == replay.expect[:2]})}
        store.write_json(run_dir / store.TEST_FILE, test)
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
    workload and mode); returns the test record and the composed verdict. BadInput when the
    run records a mode, workload or expectation splitbrain cannot judge."""
    test = store.load_test(run_dir)
    options = test["options"]
    mode, where = options.get("mode", ""), Path(run_dir) / store.TEST_FILE
    if mode not in MODES:
        raise BadInput(f"{where} records mode {mode!r}, which has no verdict policy; the run "
                       f"cannot be judged (modes: {', '.join(MODES)})")
    try:
        expect = policy.parse_expect(options.get("expect") or ())
    except ValueError as e:
        raise BadInput(f"{where} records {e}") from None
    return test, check(store.load_history(run_dir), make_workload(options.get("workload", ""), mode,
                                                               keys=options.get("keys")),
                       expect=expect, params=test.get("cluster"))


def replay_verdict(test: dict[str, Any]) -> str | None:
    """Whether a ``--replay`` run showed the violation its file recorded, in one line (None
    for a run that replayed nothing). Not reproducing it is an outcome, not a failure: real
    processes do not keep the simulator's timing."""
    r = test.get("replay")
    if not r:
        return None
    e = r["expect"]
    what = f"{e['checker']} {e['type']} on key {e['key']}"
    if r["reproduced"]:
        return f"replay: reproduced {what}"
    elsewhere = f", but on key {', '.join(r['other_keys'])}" if r["other_keys"] else ""
    return (f"replay: not reproduced: this run showed no {what}{elsewhere} (timing differs "
            f"between the simulator and real processes)")


def verdict_word(valid: Any) -> str:
    return {True: "valid", False: "INVALID"}.get(valid, "unknown")


def summary(result: Result) -> list[str]:
    """One line per checker, one per promise of the mode (and per ``--expect``), then the
    overall verdict. A checker's line says INVALID when the verdict policy lists it as failing
    the run or it failed naming no anomaly (as the HTML report's
    :meth:`~splitbrain.reports.run.RunData.checker_valid` says), and counts every anomaly (the
    exact counts, not the listed ones), violations apart from those the mode permits. A
    promise's line says ``no violation found`` only when a checker of this run judged it."""
    lines = []
    details = result.details
    per_checker = details.get("results", {})
    failing = set(details.get("failing") or ())
    counts = details.get("counts") or {}
    for name, r in per_checker.items():
        mine = counts.get(name, {})
        failed = name in failing or (r.get("valid") is False and not r.get("anomalies"))
        word = "INVALID" if failed else "unknown" if r.get("valid") == "unknown" else "valid"
        notes = [f"{n:,} {t}" for t, n in mine.get("violations", {}).items()]
        notes += [f"{n:,} {t} permitted" for t, n in mine.get("permitted", {}).items()]
        if r.get("reason"):
            notes.append(r["reason"])
        by_fault = r.get("stats", {}).get("by_fault")
        if isinstance(by_fault, dict) and by_fault:
            notes.append("available " + ", ".join(f"{kind} {row['available']:.0%}"
                                                  for kind, row in by_fault.items()))
        lines.append(f"  {name:<14} {word}" + (f" ({'; '.join(notes)})" if notes else ""))
    for p in details.get("promises") or ():
        note = f" ({p['note']})" if p.get("note") and p["state"] != "no violation found" else ""
        lines.append(f"  {p['state']}: {p['text']}{note}")
    for e in details.get("expectations") or ():
        note = f" ({e['note']})" if e.get("note") and e["state"] != "no violation found" else ""
        lines.append(f"  {e['state']}: --expect {e['name']}{note}")
    if not per_checker and result.reason:
        lines.append(f"  {result.reason}")
    because = f" ({result.reason})" if result.reason and per_checker else ""
    lines.append(f"verdict: {verdict_word(result.valid)}{because}")
    return lines

