"""The command line: ``splitbrain test|check|report|serve|cluster|node``.

Exit codes, as Jepsen's: 0 valid, 1 invalid, 2 unknown, 254 bad arguments or input, 255 the
tester itself failed. Errors are one sentence, never a traceback.
"""

from __future__ import annotations

import os
import sys

import click

from splitbrain.errors import BadInput, TesterFailure
from splitbrain.history import HistoryError

EXIT_VALID, EXIT_INVALID, EXIT_UNKNOWN = 0, 1, 2
EXIT_BAD_INPUT, EXIT_TESTER_FAILED = 254, 255


def exit_code_for(valid: object) -> int:
    """The exit code for a verdict: 0 valid, 1 invalid, 2 unknown."""
    if valid is True:
        return EXIT_VALID
    if valid is False:
        return EXIT_INVALID
    return EXIT_UNKNOWN


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
@click.option("--workload", default="register", show_default=True, help="register, set or counter.")
@click.option("--nemesis", default="partition,kill", show_default=True,
              help="Comma-separated faults: partition, kill, pause, clock, clock-rate, "
                   "latency, isolate-leader, kill-owners (or none).")
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
@click.option("--leave-running", is_flag=True, help="Leave the cluster running afterwards.")
@click.option("--expect", multiple=True, metavar="PROPERTY",
              help="Fail the run on a property the mode does not promise (no-lost-writes, "
                   "linearizable, read-your-writes, monotonic-reads, no-stale-reads).")
@_bug_option
def test_command(test_count: int, **options: object) -> None:
    """Run a test against a local cluster: exit 0 valid, 1 invalid, 2 unknown."""
    from splitbrain.harness.testrun import TestOptions, run_test, summary

    _list_bugs_if_asked(options["bug"])  # type: ignore[arg-type]
    if test_count < 1:
        raise BadInput(f"--test-count must be at least 1, not {test_count}")
    codes = []
    for i in range(test_count):
        opts = TestOptions(**options)  # type: ignore[arg-type]
        if opts.seed is not None:
            opts.seed += i
        outcome = run_test(opts)
        click.echo(f"{opts.name}, seed {opts.seed}, {outcome.test.get('net')} network")
        for name in opts.bug:
            click.secho(f"planted bug: {name}", fg="red")
        for line in summary(outcome.result):
            click.echo(line)
        click.echo(f"run: {outcome.run_dir}")
        if opts.leave_running:
            click.echo(f"cluster left running: splitbrain cluster status|down --root "
                       f"{outcome.run_dir / 'cluster'}")
        if outcome.report is not None:
            click.echo(f"report: {outcome.report}")
        else:
            click.echo(f"report: not written ({outcome.report_error})", err=True)
        codes.append(exit_code_for(outcome.result.valid))
    sys.exit(EXIT_INVALID if EXIT_INVALID in codes else max(codes))


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
              help="Seconds between starting a fault and healing it, and between faults.")
@click.option("--recovery", default=5.0, show_default=True, type=click.FloatRange(min=0),
              help="Seconds each run's cluster gets to recover before its final reads.")
@click.option("--nodes", default=5, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=1, show_default=True, type=int, help="The first seed.")
@click.option("--store", default="store", show_default=True, help="Where runs are stored.")
def calibrate_command(bugs: tuple[str, ...], **options: object) -> None:
    """Measure what splitbrain catches: each planted bug's exposing run, SEEDS times, plus
    clean runs; writes calibration.html and .json to the store. Exit 0 when every bug was
    caught in every seed and every clean run was valid, else 1."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, \
        TimeElapsedColumn

    from splitbrain.harness.calibrate import Plan, calibrate, choose

    plan = Plan(bugs=choose(bugs), **options)  # type: ignore[arg-type]
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

        record, where = calibrate(plan, on_row=finished, on_start=started)
    for name, b in record["bugs"].items():
        median = b["median_first_anomaly_s"]
        click.echo(f"  {name:<28} caught {b['caught']}/{b['seeds']}"
                   + (f", median {median:.1f} s" if median is not None else ""))
    for mode, m in record["modes"].items():
        click.echo(f"  clean {mode:<22} valid {m['passed']}/{m['clean_runs']}")
    click.echo(f"calibration: {'passed' if record['passed'] else 'FAILED'}")
    click.echo(f"report: {where / 'calibration.html'}")
    sys.exit(EXIT_VALID if record["passed"] else EXIT_INVALID)


@cli.command("check")
@click.argument("files", nargs=-1, required=True, metavar="FILE|RUN_DIR...")
@click.option("--format", "fmt", default="auto", show_default=True,
              type=click.Choice(["auto", "jsonl", "edn", "porcupine-etcd", "porcupine-kv"]),
              help="History format (auto detects it).")
@click.option("--model", default=None,
              help="register, cas-register, kv, kv-append, set, counter, queue, mutex "
                   "(default: the format's, else cas-register).")
@click.option("--initial", default=None, metavar="JSON", help="The initial value, as JSON.")
@click.option("--nil-reads", type=click.Choice(["strict", "unconstrained"]), default=None,
              help="unconstrained: a read of nil is always legal (Knossos's convention).")
@click.option("--time-limit", type=click.FloatRange(min=0, min_open=True), default=None,
              metavar="S", help="Seconds per file before the verdict is unknown.")
@click.option("--json", "as_json", is_flag=True, help="Print each file's Result as JSON.")
@click.option("--report", "report_path", default=None, metavar="OUT.html",
              help="Also write an HTML report of the (one) history checked.")
def check_command(files: tuple[str, ...], fmt: str, model: str | None, initial: str | None,
                  nil_reads: str | None, time_limit: float | None, as_json: bool,
                  report_path: str | None) -> None:
    """Check histories for linearizability: our JSONL, Jepsen EDN, Porcupine logs. A run
    directory (e.g. store/latest) is re-judged with its test's checkers and options."""
    import json
    import os

    from splitbrain.checkers.result import merge_validity
    from splitbrain.checkfile import check_file, summary

    if report_path and len(files) != 1:
        raise BadInput("--report writes one report; check one history at a time to report "
                       "each of them.")
    verdicts = []
    for path in files:
        if os.path.isdir(path):  # a stored run: judged again as its test was
            from splitbrain.harness.testrun import recheck, summary as run_summary

            result = recheck(path)[1]
            lines = [f"{path}:", *run_summary(result)]
        else:
            result = check_file(path, fmt=fmt, model=model, initial=initial,
                                nil_reads=nil_reads, time_limit=time_limit)
            lines = summary(path, result)
        verdicts.append(result.valid)
        if as_json:
            click.echo(json.dumps({"file": path, **result.to_dict()}, default=str))
        else:
            click.echo("\n".join(lines))
        if report_path:
            from splitbrain.reports import write_check_report

            click.echo(f"report: {write_check_report(path, result, report_path, fmt=fmt)}",
                       err=as_json)
    sys.exit(exit_code_for(merge_validity(*verdicts)))


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
    """Browse past runs on http://127.0.0.1:PORT/: newest first, verdicts, reports, files."""
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
def cluster_up(nodes: int, mode: str, net: str, root: str, bug: tuple[str, ...]) -> None:
    """Start NODES nodes in MODE and leave them running (stop with 'cluster down')."""
    import asyncio

    from splitbrain.db.bugs import check_bugs
    from splitbrain.harness.cluster import local_cluster

    _list_bugs_if_asked(bug)
    try:
        bugs = check_bugs(bug, mode)
    except ValueError as e:
        raise BadInput(str(e)) from None
    cluster = local_cluster(mode, nodes, root, net=net, detached=True, bugs=bugs)
    asyncio.run(cluster.start())
    click.echo(f"{nodes} {mode} nodes up on the {cluster.net.kind} network, in {cluster.root}:")
    for name in bugs:
        click.secho(f"planted bug: {name}", fg="red")
    for name in cluster.names:
        click.echo(f"  {name}  {cluster.client_url(name)}  log {cluster.log_path(name)}")
    url = cluster.client_url(cluster.names[0])
    click.echo(f"try: curl -X PUT -d '{{\"value\": 1}}' {url}/kv/k && curl {url}/kv/k")


@cluster_group.command("status")
@_root_option
def cluster_status(root: str) -> None:
    """Show each node of the cluster: pid, running, healthy, URL, log. Exit 1 if any node is
    not healthy."""
    import asyncio

    from splitbrain.harness.cluster import detached_status

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
    from splitbrain.harness.cluster import stop_detached

    removed = stop_detached(root)
    if removed is None:
        raise BadInput(f"no cluster is running in {root}; nothing to stop")
    click.echo(f"stopped the cluster in {root} ({len(removed)} processes and network "
               f"pieces removed); data and logs are kept there")


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
