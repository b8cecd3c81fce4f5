"""The command line: ``splitbrain test|sim|check|report|serve|cluster|node``.

Exit codes, as Jepsen's: 0 valid, 1 invalid, 2 unknown, 254 bad arguments or input, 255 the
tester itself failed. Errors are one sentence, never a traceback.

The gate contract of ``test`` and ``check`` (docs/ci.md): 1 is only ever a checker's verdict;
a failure of the tester or the cluster (a bug of ours included) is 255, which a CI job may
retry, while it must never retry a 1. Of several runs or files, an invalid one decides the
exit code, then one the tester could not run, then an unknown one.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import click

from splitbrain.errors import BadInput, TesterFailure
from splitbrain.history import HistoryError

if TYPE_CHECKING:
    from splitbrain.reports.markdown import Entry

EXIT_VALID, EXIT_INVALID, EXIT_UNKNOWN = 0, 1, 2
EXIT_BAD_INPUT, EXIT_TESTER_FAILED = 254, 255


def exit_code_for(valid: object) -> int:
    """The exit code for a verdict: 0 valid, 1 invalid, 2 unknown."""
    if valid is True:
        return EXIT_VALID
    if valid is False:
        return EXIT_INVALID
    return EXIT_UNKNOWN


def worst_exit(codes: list[int]) -> int:
    """The exit code of several runs or files: 1 (a verdict, never retried) beats 255 (the
    tester could not run one; retry), which beats 254, 2 and 0."""
    return EXIT_INVALID if EXIT_INVALID in codes else max(codes)


def _summary_path(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """--summary-md's FILE, checked before anything runs: its folder must exist."""
    if value is not None and (os.path.isdir(value) or
                              not os.path.isdir(os.path.dirname(value) or ".")):
        raise click.BadParameter(f"{value} cannot be written: name a file in an existing folder",
                                 ctx=ctx, param=param)
    return value


def summary_options(command: click.Command) -> click.Command:
    """--summary-md FILE and --step-summary/--no-step-summary, for every command that judges."""
    command = click.option(
        "--step-summary/--no-step-summary", default=True, show_default=True,
        help="Append the Markdown summary to $GITHUB_STEP_SUMMARY when that is set.")(command)
    return click.option(
        "--summary-md", "summary_md", default=None, metavar="FILE", callback=_summary_path,
        help="Write a Markdown summary for CI pages: verdicts, violated promises, permitted "
             "anomalies, the command that reproduces each run.")(command)


def write_summary(entries: list[Entry], *, title: str, path: str | None, step_summary: bool,
                  note: str = "", table: bool | None = None) -> None:
    """Render and write the Markdown summary of ``entries`` (splitbrain.reports.markdown); a
    file that cannot be written is said on stderr, and the verdict's exit code stands."""
    from splitbrain.reports import markdown

    try:
        markdown.write(markdown.render(entries, title=title, note=note, table=table), path,
                       step_summary=step_summary)
    except OSError as e:
        click.echo(f"splitbrain: the summary was not written ({e.filename}: {e.strerror}); "
                   f"the verdict stands", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="splitbrain")
def cli() -> None:
    """splitbrain: partition, kill, pause and skew a real cluster, then prove or refute its
    consistency."""


@cli.command()
@click.option("--config", "config_path", required=True, metavar="FILE",
              help="The cluster config (JSON) listing every node.")
@click.option("--name", required=True, help="This node's name in the config.")
def node(config_path: str, name: str) -> None:
    """Run one node of a cluster until SIGTERM (exit 255 if it cannot read its config or bind
    its ports)."""
    from splitbrain.db.node import run_node

    run_node(config_path, name)


def _host_options(command: Any) -> Any:
    """The options that run the nodes on remote hosts over SSH (``test`` and ``cluster up``)."""
    for option in reversed([
        click.option("--hosts", default="", metavar="H1,H2,...",
                     help="Run the nodes on these hosts over SSH, one node per host "
                          "(default: local processes)."),
        click.option("--ssh-user", default=None, help="SSH user (root, or one with "
                                                      "passwordless sudo)."),
        click.option("--ssh-key", default=None, metavar="FILE", help="SSH private key."),
        click.option("--ssh-port", default=22, show_default=True, type=int),
        click.option("--ssh-known-hosts", default=None, metavar="FILE",
                     help="Host keys to trust (default ~/.ssh/known_hosts)."),
        click.option("--ssh-accept-new", is_flag=True,
                     help="Trust a host key seen for the first time."),
        click.option("--remote-dir", default="/opt/splitbrain", show_default=True,
                     help="Where splitbrain is installed and the nodes run on each host."),
    ]):
        command = option(command)
    return command


def _list_bugs_if_asked(names: tuple[str, ...]) -> None:
    """``--bug list``: print the planted-bug catalogue, one line each, and exit 0."""
    if "list" not in names:
        return
    from splitbrain.db.bugs import CATALOGUE

    width = max(map(len, CATALOGUE))
    for bug in CATALOGUE.values():
        click.echo(f"{bug.name:<{width}}  {'/'.join(bug.modes):<10}  {bug.sentence}")
    sys.exit(EXIT_VALID)


_bug_option = click.option(
    "--bug", multiple=True, metavar="NAME",
    help="Plant this bug of the catalogue in every node (repeatable); '--bug list' prints "
         "the catalogue.")


@cli.command("test")
@click.option("--mode", default="dynamodb", show_default=True, help="dynamo, lww or dynamodb.")
@click.option("--workload", default="register", show_default=True,
              help="register, set, counter, an installed plugin or pkg.mod:Class.")
@click.option("--nemesis", default="partition,kill", show_default=True,
              help="Comma-separated faults: partition, kill, crash, pause, clock, clock-rate, "
                   "latency, isolate-leader, kill-owners, one-way, bridge, leader-latency, "
                   "leader-one-way, leader-clock, flap-owners, strand-follower, reject-leader, "
                   "lag-successor (or none).")
@click.option("--nemesis-interval", default=10.0, show_default=True, type=float,
              help="Seconds between starting a fault and healing it, and between faults.")
@click.option("--nemesis-overlap", is_flag=True,
              help="Start faults of two different kinds together each period (e.g. clock skew "
                   "during a partition).")
@click.option("--nodes", default=5, show_default=True, type=int)
@click.option("--concurrency", default=10, show_default=True, type=int, help="Client threads.")
@click.option("--rate", default=100.0, show_default=True, type=float,
              help="Client ops per second, in total.")
@click.option("--time-limit", default=60.0, show_default=True, type=float,
              help="Seconds of workload and faults.")
@click.option("--net", default="proxy", show_default=True, help="proxy, netns or auto.")
@click.option("--seed", type=int, help="Random seed (default: a fresh one, recorded).")
@click.option("--store", default="store", show_default=True, help="Where runs are stored.")
@click.option("--recovery", default=5.0, show_default=True, type=float,
              help="Seconds the cluster gets to recover after healing, before final reads.")
@click.option("--op-timeout", default=2.0, show_default=True, type=float,
              help="Seconds before an op is recorded indeterminate (info).")
@click.option("--test-count", default=1, show_default=True, type=int,
              help="Run the test this many times (seeds seed, seed+1, ...).")
@click.option("--fail-fast", is_flag=True, help="Stop at the first invalid run.")
@click.option("--leave-running", is_flag=True, help="Leave the cluster running afterwards.")
@click.option("--expect", multiple=True, metavar="PROPERTY",
              help="Fail the run on a property the mode does not promise (no-lost-writes, "
                   "linearizable, read-your-writes, monotonic-reads, no-stale-reads); one "
                   "no checker of the workload judges is refused.")
@click.option("--r", type=int, default=None, help="Read quorum R of dynamo and lww (default 2).")
@click.option("--w", type=int, default=None, help="Write quorum W of dynamo and lww (default 2).")
@_bug_option
@_host_options
@click.option("--db", default="splitbrain", show_default=True,
              help="The system under test: splitbrain (its own node) or etcd.")
@click.option("--etcd-bin", default=None, metavar="PATH",
              help="The etcd binary (default: etcd on PATH).")
@click.option("--etcd-reads", default="linearizable", show_default=True,
              help="linearizable or serializable: the reads the etcd workload makes.")
@click.option("--replay", default=None, metavar="FILE",
              help="Play this replay.json (a shrunk sim run's faults and ops) on the nodes and "
                   "say whether its anomaly came back; its options replace the others.")
@click.option("--keys", type=int, default=None, metavar="N",
              help="Keys the workload uses: the register's keys in use at a time, the set's "
                   "or the counter's keys (default: the workload's own, recorded in test.json).")
@click.option("--request-timeout-ms", type=int, default=None, metavar="MS",
              help="The node's request budget: how long a coordinator or leader waits for "
                   "replicas before answering that a request timed out (default 1000). Keep "
                   "--op-timeout above it.")
@summary_options
def test_command(test_count: int, fail_fast: bool, summary_md: str | None, step_summary: bool,
                 **options: object) -> None:
    """Run a test against a local cluster, or on --hosts over SSH, of splitbrain's node or
    etcd: exit 0 valid, 1 invalid, 2 unknown, 255 the tester or the cluster could not run
    it."""
    from splitbrain.harness.testrun import TestOptions, replay_verdict, run_test, summary
    from splitbrain.reports import markdown

    _list_bugs_if_asked(options["bug"])  # type: ignore[arg-type]
    if test_count < 1:
        raise BadInput(f"--test-count must be at least 1, not {test_count}")
    codes, entries = [], []
    for i in range(test_count):
        opts = TestOptions(**options)  # type: ignore[arg-type]
        if opts.seed is not None:
            opts.seed += i
        try:
            outcome = run_test(opts)
        except TesterFailure as e:  # the runs before it keep their verdicts
            click.echo(f"splitbrain: {e}", err=True)
            entries.append(markdown.failed_entry(opts.name, opts.seed, opts.command(), str(e)))
            codes.append(EXIT_TESTER_FAILED)
            break
        click.echo(f"{opts.name}, seed {opts.seed}, {outcome.test.get('net')} network")
        for name in opts.bug:
            click.secho(f"planted bug: {name}", fg="red")
        for line in summary(outcome.result):
            click.echo(line)
        replayed = replay_verdict(outcome.test)
        if replayed is not None:
            click.echo(replayed)
        click.echo(f"run: {outcome.run_dir}")
        if opts.leave_running:
            click.echo(f"cluster left running: splitbrain cluster status|down --root "
                       f"{outcome.run_dir / 'cluster'}")
        if outcome.report is not None:
            click.echo(f"report: {outcome.report}")
        else:
            click.echo(f"report: not written ({outcome.report_error})", err=True)
        codes.append(exit_code_for(outcome.result.valid))
        entries.append(markdown.run_entry(outcome.test, outcome.result.to_dict(),
                                          outcome.run_dir))
        if fail_fast and codes[-1] == EXIT_INVALID:
            break
    series = test_count > 1
    write_summary(entries, title="splitbrain test", path=summary_md, step_summary=step_summary,
                  note=f"{len(entries)} of {test_count} runs" if series else "", table=series)
    sys.exit(worst_exit(codes))


@cli.command("calibrate")
@click.option("--bug", "bugs", multiple=True, metavar="NAME|all",
              help="A planted bug to measure (repeatable; default: all of them).")
@click.option("--seeds", default=5, show_default=True, type=click.IntRange(min=1),
              help="Runs per bug, seeds SEED, SEED+1, ...")
@click.option("--time-limit", default=60.0, show_default=True,
              type=click.FloatRange(min=0, min_open=True), help="Seconds of workload per run.")
@click.option("--clean", default=5, show_default=True, type=click.IntRange(min=0),
              help="Runs without any bug per mode of the chosen bugs.")
@click.option("--nemesis-interval", default=5.0, show_default=True,
              type=click.FloatRange(min=0, min_open=True),
              help="Seconds between starting a fault and healing it, and between faults (with "
                   "--sim only when given: each seed draws its own otherwise).")
@click.option("--recovery", default=5.0, show_default=True, type=click.FloatRange(min=0),
              help="Seconds each run's cluster gets to recover before its final reads.")
@click.option("--nodes", default=5, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=1, show_default=True, type=int, help="The first seed.")
@click.option("--store", default="store", show_default=True, help="Where runs are stored.")
@click.option("--sim", is_flag=True,
              help="Measure in the simulator (splitbrain sim) instead: SEEDS seeds per bug and "
                   "CLEAN per mode, with the fraction caught and the CPU seconds to the first "
                   "catch; with --real too, both on one page.")
@click.option("--real", is_flag=True, help="With --sim: also the real runs.")
@click.option("--ops", default=None, type=click.IntRange(min=1),
              help="With --sim: client ops per seed at 100 ops/s (a bug's run at a higher "
                   "rate gets proportionally more). Default: 1000, 10 virtual seconds, room "
                   "for the long faults the lease bugs need, or three of a run's own fault "
                   "intervals when longer.")
@click.option("--jobs", default=os.cpu_count() or 1, show_default="the CPU count",
              type=click.IntRange(min=1), help="With --sim: worker processes.")
@click.option("--table", "tables", multiple=True, metavar="CALIBRATION.JSON",
              help="Run nothing: print the markdown tables of these finished calibrations "
                   "(repeatable; each file is one pass, labelled A, B, ...).")
def calibrate_command(bugs: tuple[str, ...], sim: bool, real: bool, ops: int, jobs: int,
                      tables: tuple[str, ...], **options: object) -> None:
    """Measure what splitbrain catches: each planted bug's exposing run, SEEDS times, plus
    clean runs; writes calibration.html and .json to the store. Exit 0 when every bug was
    caught in every seed and every clean run was valid, else 1. With --table, print the
    tables of finished calibrations instead (docs/detection.md)."""
    if tables:
        from splitbrain.reports import detection_table

        ctx = click.get_current_context()
        given = [p.opts[0] for p in ctx.command.params if p.name != "tables"
                 and ctx.get_parameter_source(p.name) is click.core.ParameterSource.COMMANDLINE]
        if given:
            raise BadInput(f"--table runs nothing, so {', '.join(given)} would be ignored; "
                           f"leave {'them' if len(given) > 1 else 'it'} out, or run the "
                           f"calibration without --table")
        click.echo(detection_table.render(detection_table.load(list(tables))), nl=False)
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, \
        TimeElapsedColumn

    from splitbrain.harness.calibrate import Plan, calibrate, calibration_dir, choose, \
        with_sim, write_record

    if real and not sim:
        raise BadInput("--real goes with --sim (both worlds on one page); without --sim, "
                       "calibrate runs only the real runs anyway, so drop --real")
    plan = Plan(bugs=choose(bugs), **options)  # type: ignore[arg-type]
    given = click.get_current_context().get_parameter_source("nemesis_interval")
    sim_interval = (plan.nemesis_interval
                    if given == click.core.ParameterSource.COMMANDLINE else None)
    sim_record = _calibrate_sim(plan, ops, jobs, sim_interval) if sim else None
    if sim and not real:
        where = calibration_dir(plan.store)
        record = with_sim(None, sim_record)
        write_record(record, where)
        _print_calibration(record, where)  # exits
    console = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=True) as progress:
        task = progress.add_task("calibrating", total=len(plan.runs()))

        def started(i: int, total: int, name: str, opts: object) -> None:
            progress.update(task, description=f"{name} seed {getattr(opts, 'seed', '?')}")

        def finished(i: int, total: int, row: object) -> None:
            from splitbrain.harness.calibrate import Row

            assert isinstance(row, Row)
            if row.bug == "clean":
                word = "ok" if row.passed else "FALSE ALARM" if row.verdict == "INVALID" \
                    else row.verdict
            else:
                word = "caught" if row.caught else "MISSED"
            how = f" by {row.checker}: {row.anomaly} at {row.first_anomaly_s} s" \
                if row.checker else ""
            progress.console.print(f"[{i + 1}/{total}] {row.bug} ({row.mode}) seed {row.seed}: "
                                   f"{word}{how}{'; ' + row.error if row.error else ''}")
            progress.advance(task)

        record, where = calibrate(plan, on_row=finished, on_start=started, sim=sim_record)
    _print_calibration(record, where)


def _print_calibration(record: dict[str, Any], where: Any) -> None:
    """Print a calibration's summary (its real and simulated parts) and exit 0 if it passed,
    else 1."""
    for name, b in record.get("bugs", {}).items():
        median = b["median_first_anomaly_s"]
        click.echo(f"  {name:<28} caught {b['caught']}/{b['seeds']}"
                   + (f", median {median:.1f} s" if median is not None else ""))
    for mode, m in record.get("modes", {}).items():
        click.echo(f"  clean {mode:<22} valid {m['passed']}/{m['clean_runs']}")
    sim = record.get("sim")
    if sim is not None:
        click.echo("simulated:")
        for name, b in sim["bugs"].items():
            cpu = b["cpu_to_first_catch_s"]
            click.echo(f"  {name:<28} caught {b['caught']}/{b['seeds']}"
                       + (f", first after {cpu:.1f} CPU s" if cpu is not None else ""))
        for mode, m in sim["modes"].items():
            if m["clean_runs"]:
                click.echo(f"  clean {mode:<22} valid {m['passed']}/{m['clean_runs']}")
    click.echo(f"calibration: {'passed' if record['passed'] else 'FAILED'}")
    click.echo(f"report: {where / 'calibration.html'}")
    sys.exit(EXIT_VALID if record["passed"] else EXIT_INVALID)


def _calibrate_sim(plan: Any, ops: int, jobs: int, nemesis_interval: float | None
                   ) -> dict[str, Any]:
    """``calibrate --sim``: the simulated calibration of ``plan``'s bugs, seeds and clean
    seeds (faults every ``nemesis_interval`` seconds, or as each seed draws), with a progress
    bar."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, \
        TimeElapsedColumn

    from splitbrain.sim.calibrate import SimPlan, calibrate_sim

    sim_plan = SimPlan(bugs=plan.bugs, seeds=plan.seeds, clean=plan.clean, seed=plan.seed,
                       ops=ops, jobs=jobs, store=plan.store,
                       nemesis_interval=nemesis_interval)
    with Progress(TextColumn("[bold]sim[/] {task.description}"), BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=Console(stderr=True),
                  transient=True) as progress:
        task = progress.add_task("calibrating", total=len(sim_plan.runs()))
        return calibrate_sim(sim_plan, on_row=lambda i, total, row: progress.update(
            task, advance=1, description=f"{row.bug} seed {row.seed}"))


@cli.command("sim")
@click.option("--mode", default="dynamodb", show_default=True, help="dynamo, lww or dynamodb.")
@click.option("--workload", default="register", show_default=True, help="register, set or counter.")
@click.option("--nemesis", default="partition,kill,pause,clock", show_default=True,
              help="Comma-separated faults: partition, kill, pause, clock, clock-rate, "
                   "latency, isolate-leader, kill-owners, strand-follower (or none); each seed "
                   "plays a random non-empty subset of them.")
@click.option("--seeds", default="100", show_default=True,
              help="How many seeds (N: seeds 1..N) or which (A..B, inclusive).")
@click.option("--ops", default=300, show_default=True, type=int, help="Client ops per seed.")
@click.option("--jobs", default=os.cpu_count() or 1, show_default="the CPU count", type=int,
              help="Worker processes.")
@click.option("--store", "store_dir", default="store", show_default=True,
              help="Where seeds that are not valid are stored as runs.")
@click.option("--shrink/--no-shrink", default=True, show_default=True,
              help="Shrink the lowest invalid seed to its fewest faults, ops and random "
                   "draws, and store it.")
@click.option("--faults", default=None, metavar="N,N,...",
              help="Replay only these faults of each seed (0 is a seed's first; '' none).")
@click.option("--lying-disks", is_flag=True,
              help="Plant a fault: disks acknowledge fsyncs without persisting.")
@click.option("--replay", default=None, metavar="FILE",
              help="Play this replay.json (a shrunk run's) on its seed instead: the same "
                   "history; its options replace the others.")
@_bug_option
@click.option("--expect", multiple=True, metavar="PROPERTY",
              help="Fail a seed on a property the mode does not promise, as test --expect.")
@click.option("--nemesis-interval", type=float, default=None, metavar="SECONDS",
              help="Seconds between faults and each fault's length (default: each seed draws "
                   "0.2-1.5 between faults, and faults that last as long or 4-8 s).")
@click.option("--keys", type=int, default=None, metavar="N", help="Keys the workload uses.")
@click.option("--concurrency", default=10, show_default=True, type=int, help="Clients.")
@click.option("--rate", default=100.0, show_default=True, type=float,
              help="Client ops per virtual second, in total.")
@click.option("--op-timeout", default=2.0, show_default=True, type=float,
              help="Virtual seconds before an op is recorded indeterminate (info).")
@click.option("--request-timeout-ms", type=int, default=None, metavar="MS",
              help="The node's request budget (default 1000).")
def sim_command(seeds: str, jobs: int, store_dir: str, shrink: bool, faults: str | None,
                replay: str | None, **options: Any) -> None:
    """Simulate the whole cluster in one process on virtual time, once per seed: exit 0 all
    valid, 1 some invalid, 2 some unknown. With --bug, the options not given are those of
    the (first) bug's catalogue run, with 1,000 ops at 100 ops/s, as calibrate --sim runs it."""
    from splitbrain.db.bugs import CATALOGUE
    from splitbrain.sim.command import main as sim_main
    from splitbrain.sim.command import parse_faults, replay_main
    from splitbrain.sim.run import SimOptions

    _list_bugs_if_asked(options["bug"])
    if replay is not None:
        sys.exit(replay_main(replay, store_dir))
    opts = SimOptions(**options, faults=parse_faults(faults))
    if opts.bug and opts.bug[0] in CATALOGUE:
        import dataclasses

        ctx = click.get_current_context()
        given = {k: v for k, v in options.items() if k != "bug"
                 and ctx.get_parameter_source(k) is click.core.ParameterSource.COMMANDLINE}
        opts = dataclasses.replace(SimOptions.of_bug(CATALOGUE[opts.bug[0]]), **given,
                                   bug=opts.bug, faults=opts.faults)
    sys.exit(sim_main(opts, seeds, jobs, store_dir, shrinking=shrink))


@cli.command("check")
@click.argument("files", nargs=-1, required=True, metavar="FILE|RUN_DIR...")
@click.option("--format", "fmt", default="auto", show_default=True,
              type=click.Choice(["auto", "jsonl", "edn", "porcupine-etcd", "porcupine-kv"]),
              help="History format (auto detects it).")
@click.option("--model", default=None,
              help="register, cas-register, kv, kv-append, set, counter, queue, mutex, "
                   "multi-register, an installed plugin or pkg.mod:Class (default: the "
                   "format's, else cas-register).")
@click.option("--initial", default=None, metavar="JSON", help="The initial value, as JSON.")
@click.option("--nil-reads", type=click.Choice(["strict", "unconstrained"]), default=None,
              help="unconstrained: a read of nil is always legal (Knossos's convention).")
@click.option("--time-limit", type=click.FloatRange(min=0, min_open=True), default=None,
              metavar="S", help="Seconds per file before the verdict is unknown.")
@click.option("--consistency", type=click.Choice(["strong"]), default=None,
              help="strong: leave out reads marked consistency: eventual.")
@click.option("--json", "as_json", is_flag=True, help="Print each file's Result as JSON.")
@click.option("--report", "report_path", default=None, metavar="OUT.html",
              help="Also write an HTML report of the (one) history checked.")
@click.option("--checker", "extra_checkers", multiple=True, metavar="NAME|pkg.mod:fn",
              help="Also judge each history file with this plugin checker (repeatable).")
@summary_options
def check_command(files: tuple[str, ...], fmt: str, model: str | None, initial: str | None,
                  nil_reads: str | None, time_limit: float | None, consistency: str | None,
                  as_json: bool, report_path: str | None, extra_checkers: tuple[str, ...],
                  summary_md: str | None, step_summary: bool) -> None:
    """Check histories for linearizability: our JSONL, Jepsen EDN, Porcupine logs. A run
    directory (e.g. store/latest), or its history.jsonl unless a linearizability option
    (--model, --initial, --nil-reads, --consistency) is given, is re-judged with its test's
    checkers and options; a store (e.g. store/) has every run in it re-judged, and the runs
    whose verdict changed since they were recorded are listed (exit 1 when one changed to
    invalid)."""
    import json
    import shlex

    from splitbrain.checkfile import check_file, run_dir_of, summary
    from splitbrain.harness.rejudge import is_store, rejudge_store
    from splitbrain.reports import markdown

    if report_path and (len(files) != 1 or is_store(files[0])):
        raise BadInput("--report writes one report; check one history at a time to report "
                       "each of them.")
    given = [(flag, v) for flag, v in (("--format", None if fmt == "auto" else fmt),
                                       ("--model", model), ("--initial", initial),
                                       ("--nil-reads", nil_reads), ("--time-limit", time_limit),
                                       ("--consistency", consistency))
             if v is not None]
    alone = any(o is not None for o in (model, initial, nil_reads, consistency))
    codes, entries, notes = [], [], []
    for path in files:
        if os.path.isdir(path) and extra_checkers:
            raise BadInput(f"--checker judges history files, and {path} is a directory (a run "
                           f"or a store, re-judged with their tests' checkers); pass a run's "
                           f"history.jsonl")
        if is_store(path):  # a whole store: every run judged again, the changes listed
            found = rejudge_store(path, lambda i, n, run: click.echo(
                f"[{i}/{n}] {run}", err=True))  # a big archive takes minutes: show progress
            codes.append(found.exit_code())
            entries += [markdown.run_entry(r.test, r.result.to_dict(), r.run_dir,
                                           recorded=r.recorded) for r in found.changed]
            lines = found.lines()
            notes.append(lines[-1])
            click.echo(json.dumps(found.to_dict(), default=str) if as_json else "\n".join(lines))
            continue
        run_dir = (path if os.path.isdir(path)
                   else None if alone or extra_checkers else run_dir_of(path))
        if run_dir is not None:  # a stored run: judged again as its test was
            from splitbrain.harness.testrun import recheck, summary as run_summary

            test, result = recheck(run_dir)
            said = "" if run_dir == path else (
                " judged with its run's checkers and options (test.json beside it); pass "
                "--model or --consistency to check it for linearizability alone")
            lines = [f"{path}:{said}", *run_summary(result)]
            entries.append(markdown.run_entry(test, result.to_dict(), run_dir))
        else:
            result = check_file(path, fmt=fmt, model=model, initial=initial,
                                nil_reads=nil_reads, time_limit=time_limit,
                                consistency=consistency)
            lines = summary(path, result)
            if extra_checkers:
                from splitbrain.checkfile import with_checkers

                result, more = with_checkers(path, fmt, result, extra_checkers)
                lines += more
            command = shlex.join(["splitbrain", "check", path,
                                  *(str(x) for flag, v in given for x in (flag, v)),
                                  *(x for c in extra_checkers for x in ("--checker", c))])
            entries.append(markdown.file_entry(path, result.to_dict(), command))
        codes.append(exit_code_for(result.valid))
        if as_json:
            click.echo(json.dumps({"file": path, **result.to_dict()}, default=str))
        else:
            click.echo("\n".join(lines))
        if report_path:
            from splitbrain.reports import write_check_report

            written = write_check_report(run_dir or path, result, report_path, fmt=fmt)
            click.echo(f"report: {written}", err=as_json)
    write_summary(entries, title="splitbrain check", path=summary_md, step_summary=step_summary,
                  note="; ".join(notes))
    sys.exit(worst_exit(codes))


@cli.command("plugins")
def plugins_command() -> None:
    """List the installed plugins: models, workloads and checkers that packages declare in the
    entry point groups splitbrain.models, splitbrain.workloads and splitbrain.checkers."""
    from splitbrain.plugins import GROUPS, installed

    found = installed()
    for p in found:
        click.echo(f"{p.kind:<8}  {p.name:<20}  {p.target}  ({p.distribution})")
    if not found:
        click.echo(f"no plugins installed (entry point groups: {', '.join(GROUPS.values())})")


@cli.command("compare")
@click.option("--modes", default="dynamo,lww,dynamodb", show_default=True,
              help="Comma-separated modes to run side by side.")
@click.option("--workload", default="register", show_default=True, help="register, set or counter.")
@click.option("--nemesis", default="partition,kill,clock", show_default=True,
              help="Comma-separated faults, the same schedule in every run (or none).")
@click.option("--nemesis-interval", default=5.0, show_default=True, type=float,
              help="Seconds between starting a fault and healing it, and between faults.")
@click.option("--time-limit", default=60.0, show_default=True, type=float,
              help="Seconds of workload and faults in each run.")
@click.option("--seed", type=int, help="Random seed shared by every run (default: a fresh one).")
@click.option("--nodes", default=5, show_default=True, type=int)
@click.option("--concurrency", default=10, show_default=True, type=int, help="Client threads.")
@click.option("--rate", default=100.0, show_default=True, type=float,
              help="Client ops per second, in total.")
@click.option("--net", default="proxy", show_default=True, help="proxy, netns or auto.")
@click.option("--store", default="store", show_default=True, help="Where runs are stored.")
@click.option("--sweep-quorums", is_flag=True,
              help="Add dynamo and lww runs with (R, W) = (1,1), (2,2), (3,1), (1,3), N=3.")
@summary_options
def compare_command(modes: str, summary_md: str | None, step_summary: bool,
                    **options: object) -> None:
    """Run the same workload, seed and faults against each mode and write compare.html and
    compare.md side by side: exit 0 when every run was valid by its mode's own promises, 1 when
    any was invalid, 2 when any was unknown."""
    from splitbrain.compare.run import CompareOptions, run_compare
    from splitbrain.harness.testrun import Outcome, verdict_word
    from splitbrain.reports import markdown

    opts = CompareOptions(modes=tuple(m.strip() for m in modes.split(",") if m.strip()),
                          **options)  # type: ignore[arg-type]

    def done(label: str, outcome: Outcome) -> None:
        click.echo(f"{label:<18} {verdict_word(outcome.result.valid):<8} {outcome.run_dir}")

    comparison = run_compare(opts, on_run=done)
    click.echo(f"compare: {comparison.dir / 'compare.html'}")
    click.echo(f"         {comparison.dir / 'compare.md'}")
    write_summary([markdown.run_entry(o.test, o.result.to_dict(), o.run_dir)
                   for o in comparison.outcomes], title="splitbrain compare",
                  path=summary_md, step_summary=step_summary,
                  note=f"the comparison: {comparison.dir / 'compare.md'}")
    sys.exit(exit_code_for(comparison.worst))


@cli.command("report")
@click.argument("run_dir", metavar="RUN_DIR")
def report_command(run_dir: str) -> None:
    """Rebuild report.html and junit.xml of a stored run (e.g. store/latest)."""
    from splitbrain.reports import write_run_report

    click.echo(f"report: {write_run_report(run_dir)}")


@cli.command("serve")
@click.option("--store", "store_dir", default="store", show_default=True,
              help="The store to browse.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
def serve_command(store_dir: str, port: int) -> None:
    """Browse past runs on http://127.0.0.1:PORT/ (0: a free port, printed): newest first,
    verdicts, reports, files."""
    from splitbrain.reports.browser import serve

    serve(store_dir, port)


CLUSTER_ROOT = "splitbrain-cluster"
_root_option = click.option("--root", default=CLUSTER_ROOT, show_default=True, metavar="DIR",
                            help="The folder holding the cluster's config, pids, data and logs.")


@cli.group("cluster")
def cluster_group() -> None:
    """A local cluster that keeps running, to poke with curl: up, status, down."""


@cluster_group.command("up")
@click.option("--nodes", default=5, show_default=True, type=click.IntRange(1, 50))
@click.option("--mode", default="dynamo", show_default=True,
              type=click.Choice(["dynamo", "lww", "dynamodb"]))
@click.option("--net", default="proxy", show_default=True,
              type=click.Choice(["proxy", "netns", "auto"]))
@_root_option
@_bug_option
@_host_options
def cluster_up(nodes: int, mode: str, net: str, root: str, hosts: str, bug: tuple[str, ...],
               **ssh: Any) -> None:
    """Start NODES nodes in MODE and leave them running (stop with 'cluster down'); with
    --hosts, one node on each host over SSH."""
    import asyncio

    from splitbrain.db.bugs import check_bugs
    from splitbrain.harness.cluster import local_cluster

    _list_bugs_if_asked(bug)
    try:
        bugs = check_bugs(bug, mode)
    except ValueError as e:
        raise BadInput(str(e)) from None
    if hosts:
        _remote_cluster_up(mode, hosts, root, nodes, net, ssh, bugs)
        return

    cluster = local_cluster(mode, nodes, root, net=net, detached=True, bugs=bugs)
    asyncio.run(cluster.start())
    click.echo(f"{nodes} {mode} nodes up on the {cluster.net.kind} network, in {cluster.root}:")
    for name in bugs:
        click.secho(f"planted bug: {name}", fg="red")
    for name in cluster.names:
        click.echo(f"  {name}  {cluster.client_url(name)}  log {cluster.log_path(name)}")
    url = cluster.client_url(cluster.names[0])
    click.echo(f"try: curl -X PUT -d '{{\"value\": 1}}' {url}/kv/k && curl {url}/kv/k")


def _remote_cluster_up(mode: str, hosts: str, root: str, nodes: int, net: str,
                       ssh: dict[str, Any], bugs: list[str]) -> None:
    import asyncio

    from splitbrain.harness.sshcluster import check_layout, parse_hosts, up_detached
    from splitbrain.remote.ssh import SshOptions

    check_layout(parse_hosts(hosts), nodes, net)

    options = SshOptions(user=ssh["ssh_user"], key=ssh["ssh_key"], port=ssh["ssh_port"],
                         known_hosts=ssh["ssh_known_hosts"], accept_new=ssh["ssh_accept_new"],
                         remote_dir=ssh["remote_dir"])
    cluster = asyncio.run(up_detached(mode, parse_hosts(hosts), options, root, bugs=bugs))
    click.echo(f"{len(cluster.names)} {mode} nodes up on {hosts} (firewall network), recorded "
               f"in {cluster.root}:")
    for name in bugs:
        click.secho(f"planted bug: {name}", fg="red")
    for name in cluster.names:
        click.echo(f"  {name}  {cluster.client_url(name)}")


@cluster_group.command("status")
@_root_option
def cluster_status(root: str) -> None:
    """Show each node of the cluster: pid, running, healthy, URL, log. Exit 1 if any node is
    not healthy."""
    import asyncio

    from splitbrain.harness.cluster import detached_status
    from splitbrain.harness.sshcluster import remote_state, status_detached

    if remote_state(root) is not None:
        remote = asyncio.run(status_detached(root)) or []
        for r in remote:
            state = "healthy" if r["healthy"] else "running, not answering" if r["running"] \
                else "down"
            click.echo(f"{r['name']:<5} host {r['host']:<15} {state:<23} {r['url']}")
        sys.exit(0 if all(r["healthy"] for r in remote) else 1)

    rows = asyncio.run(detached_status(root))
    if rows is None:
        raise BadInput(f"no cluster is running in {root}; start one with 'splitbrain cluster "
                       f"up --root {root}'")
    for r in rows:
        state = "healthy" if r["healthy"] else "running, not answering" if r["running"] else "down"
        click.echo(f"{r['name']:<5} pid {r['pid'] or '-':<8} {state:<23} {r['url']}  log {r['log']}")
    sys.exit(0 if all(r["healthy"] for r in rows) else 1)


@cluster_group.command("down")
@_root_option
def cluster_down(root: str) -> None:
    """Stop the cluster's nodes and network; its data and logs stay in the folder."""
    import asyncio

    from splitbrain.harness.cluster import stop_detached
    from splitbrain.harness.sshcluster import down_detached, remote_state

    if remote_state(root) is not None:
        stopped = asyncio.run(down_detached(root)) or []
        click.echo(f"stopped the nodes {', '.join(stopped)} on their hosts; their logs are in "
                   f"{root}/logs, their data stays on the hosts")
        return
    removed = stop_detached(root)
    if removed is None:
        raise BadInput(f"no cluster is running in {root}; nothing to stop")
    click.echo(f"stopped the cluster in {root} ({len(removed)} processes and network "
               f"pieces removed); data and logs are kept there")


@cli.group("lab")
def lab_group() -> None:
    """SSH hosts in network namespaces of this machine (root, Linux): up, status, down."""


@lab_group.command("up")
@click.option("--hosts", "count", default=5, show_default=True, type=click.IntRange(1, 50),
              help="How many hosts (network namespaces, each running sshd).")
def lab_up(count: int) -> None:
    """Start COUNT SSH hosts on a private bridge and print the arguments that use them."""
    from splitbrain import lab

    built = lab.up(count)
    click.echo(f"{count} SSH hosts up on {built['subnet']} ({', '.join(built['hosts'])}); "
               f"stop them with 'splitbrain lab down'. Run a test on them with:")
    click.echo("  splitbrain test " + " ".join(lab.ssh_arguments(built)))


@lab_group.command("status")
def lab_status() -> None:
    """Show each lab host: address, whether its sshd answers, its processes. Exit 1 if an
    sshd does not answer."""
    from splitbrain import lab

    rows = lab.status()
    if rows is None:
        raise BadInput("no lab is running; start one with 'splitbrain lab up --hosts 5'")
    for r in rows:
        click.echo(f"{r['host']:<4} {r['address']:<15} sshd "
                   f"{'answering' if r['sshd'] else 'NOT answering':<13} "
                   f"{len(r['pids'])} processes")
    click.echo("  splitbrain test " + " ".join(lab.ssh_arguments(lab.state() or {})))
    sys.exit(0 if all(r["sshd"] for r in rows) else 1)


@lab_group.command("down")
def lab_down() -> None:
    """Stop every lab host and remove the namespaces, the veth and the keys."""
    from splitbrain import lab

    removed = lab.down()
    if removed is None:
        raise BadInput("no lab is running; nothing to stop")
    click.echo(f"lab removed ({len(removed)} processes, namespaces, interfaces and files)")


def main(argv: list[str] | None = None) -> None:
    """Console entry point: runs the click group and turns errors into one sentence and an
    exit code."""
    try:
        cli.main(args=argv, standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.Abort:
        click.echo("splitbrain: interrupted.", err=True)
        sys.exit(EXIT_TESTER_FAILED)
    except click.UsageError as e:
        hint = f" Run '{e.ctx.command_path} --help' for usage." if e.ctx is not None else ""
        click.echo(f"splitbrain: {e.format_message()}{hint}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except (BadInput, HistoryError) as e:
        click.echo(f"splitbrain: {e}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except TesterFailure as e:
        click.echo(f"splitbrain: {e}", err=True)
        sys.exit(EXIT_TESTER_FAILED)
    except KeyboardInterrupt:
        click.echo("splitbrain: interrupted.", err=True)
        sys.exit(EXIT_TESTER_FAILED)
    except Exception as e:  # a bug of ours: still one sentence; SPLITBRAIN_DEBUG=1 shows where
        if os.environ.get("SPLITBRAIN_DEBUG"):
            raise
        click.echo(f"splitbrain: internal error ({type(e).__name__}: {e}); this is a bug in "
                   f"splitbrain: rerun with SPLITBRAIN_DEBUG=1 for the traceback and report it.",
                   err=True)
        sys.exit(EXIT_TESTER_FAILED)


if __name__ == "__main__":
    main()
