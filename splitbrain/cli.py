"""The command line: ``splitbrain test|sim|check|report|serve|cluster|node``.

Exit codes, as Jepsen's: 0 valid, 1 invalid, 2 unknown, 254 bad arguments or input, 255 the
tester itself failed. Errors are one sentence, never a traceback.
"""

from __future__ import annotations

import os
import sys
from typing import Any

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


@cli.command("test")
@click.option("--mode", default="dynamodb", show_default=True, help="dynamo, lww or dynamodb.")
@click.option("--workload", default="register", show_default=True, help="register, set or counter.")
@click.option("--nemesis", default="partition,kill", show_default=True,
              help="Comma-separated faults: partition, kill, pause, clock (or none).")
@click.option("--nemesis-interval", default=10.0, show_default=True, type=float,
              help="Seconds between starting a fault and healing it, and between faults.")
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
@_host_options
def test_command(test_count: int, **options: object) -> None:
    """Run a test against a local cluster: exit 0 valid, 1 invalid, 2 unknown."""
    from splitbrain.harness.testrun import TestOptions, run_test, summary

    if test_count < 1:
        raise BadInput(f"--test-count must be at least 1, not {test_count}")
    codes = []
    for i in range(test_count):
        opts = TestOptions(**options)  # type: ignore[arg-type]
        if opts.seed is not None:
            opts.seed += i
        outcome = run_test(opts)
        click.echo(f"{opts.name}, seed {opts.seed}, {outcome.test.get('net')} network")
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


@cli.command("sim")
@click.option("--mode", default="dynamodb", show_default=True, help="dynamo, lww or dynamodb.")
@click.option("--workload", default="register", show_default=True, help="register, set or counter.")
@click.option("--nemesis", default="partition,kill,pause,clock", show_default=True,
              help="Comma-separated faults: partition, kill, pause, clock (or none); each "
                   "seed plays a random non-empty subset of them.")
@click.option("--seeds", default="100", show_default=True,
              help="How many seeds (N: seeds 1..N) or which (A..B, inclusive).")
@click.option("--ops", default=300, show_default=True, type=int, help="Client ops per seed.")
@click.option("--jobs", default=os.cpu_count() or 1, show_default="the CPU count", type=int,
              help="Worker processes.")
@click.option("--store", "store_dir", default="store", show_default=True,
              help="Where seeds that are not valid are stored as runs.")
@click.option("--shrink/--no-shrink", default=True, show_default=True,
              help="Shrink the lowest invalid seed to its fewest faults and ops, and store it.")
@click.option("--faults", default=None, metavar="N,N,...",
              help="Replay only these faults of each seed (0 is a seed's first; '' none).")
@click.option("--lying-disks", is_flag=True,
              help="Plant a fault: disks acknowledge fsyncs without persisting.")
def sim_command(mode: str, workload: str, nemesis: str, seeds: str, ops: int, jobs: int,
                store_dir: str, shrink: bool, faults: str | None, lying_disks: bool) -> None:
    """Simulate the whole cluster in one process on virtual time, once per seed: exit 0 all
    valid, 1 some invalid, 2 some unknown."""
    from splitbrain.sim.command import main as sim_main
    from splitbrain.sim.command import parse_faults
    from splitbrain.sim.run import SimOptions

    opts = SimOptions(mode=mode, workload=workload, nemesis=nemesis, ops=ops,
                      faults=parse_faults(faults), lying_disks=lying_disks)
    sys.exit(sim_main(opts, seeds, jobs, store_dir, shrinking=shrink))


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
def cluster_up(nodes: int, mode: str, net: str, root: str) -> None:
    """Start NODES nodes in MODE and leave them running (stop with 'cluster down')."""
    import asyncio

    from splitbrain.harness.cluster import local_cluster

    cluster = local_cluster(mode, nodes, root, net=net, detached=True)
    asyncio.run(cluster.start())
    click.echo(f"{nodes} {mode} nodes up on the {cluster.net.kind} network, in {cluster.root}:")
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
