"""Harness overhead: ops/s the tester sustains against a real cluster, versus the same clients
driving the same workload with no recording, no generators' pacing and no nemesis.

Both measurements use one running cluster (5 nodes, proxy network), the same workload, the same
concurrency and the same duration; they alternate (baseline, harness, baseline, harness...) so
drift in the machine's load hits both alike. The harness side is the real run loop
(splitbrain.harness.runner.Runner): generators, the process rule, op timeouts and the recorder
streaming history.jsonl with a flush per event. Target: ratio >= 0.9.

With ``--ssh`` (root, after ``splitbrain lab up --hosts 5``) a second cluster runs on the lab's
SSH hosts (firewall network, splitbrain installed over SSH) and every round adds the run loop
against it: the SSH row is its ops/s relative to the local cluster's, in the same rounds.
Target: >= 0.8.

    .venv/bin/python benchmarks/harness.py [--mode dynamodb] [--seconds 5] [--rounds 2] [--ssh]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import tempfile
import time
from pathlib import Path

from splitbrain.db.client import NodeClient
from splitbrain.harness.cluster import local_cluster
from splitbrain.harness.generators import Context, Invocation
from splitbrain.harness.runner import Runner
from splitbrain.harness.sshcluster import ssh_cluster
from splitbrain.lab import state as lab_state
from splitbrain.remote.ssh import SshOptions
from splitbrain.workloads import make


async def bare(cluster, mode: str, workload: str, concurrency: int, seconds: float) -> float:
    """ops/s of plain clients: generate an op, run it, nothing recorded."""
    w = make(workload, mode)
    g = w.generator()
    rng = random.Random(1)
    clients = [NodeClient(cluster.client_url(cluster.names[t % len(cluster.names)]), 2.0)
               for t in range(concurrency)]
    done = 0
    deadline = time.monotonic() + seconds

    async def loop(t: int) -> None:
        nonlocal done
        ctx = Context(0.0, t, frozenset(range(concurrency)), rng)
        while time.monotonic() < deadline:
            inv = g.next(ctx)
            assert isinstance(inv, Invocation)
            await w.invoke(clients[t], inv)
            done += 1

    start = time.monotonic()
    await asyncio.gather(*(loop(t) for t in range(concurrency)))
    elapsed = time.monotonic() - start
    for c in clients:
        await c.close()
    return done / elapsed


async def harness(cluster, mode: str, workload: str, concurrency: int, seconds: float,
                  history: Path) -> float:
    """ops/s of the run loop's workload phase, recording every event to ``history``."""

    @contextlib.asynccontextmanager
    async def running():
        yield cluster

    r = Runner(make(workload, mode), running(), history, concurrency=concurrency, rate=None,
               time_limit=seconds, recovery=0.0, seed=1)
    h = await r.run()
    ops = [op for op in h.ops() if not (op.meta or {}).get("final")]
    end = max(op.ret for op in ops if op.ret != float("inf"))
    return len(ops) / (end / 1e9)


async def cpu_per_op(measurement, seconds: float) -> tuple[float, float]:
    """(ops/s, microseconds of this process' CPU per op) of one measurement."""
    cpu = time.process_time()
    ops_per_s = await measurement
    return ops_per_s, (time.process_time() - cpu) / (ops_per_s * seconds) * 1e6


def lab_cluster(mode: str, root: Path) -> contextlib.AbstractAsyncContextManager:
    """The cluster on the running lab's hosts (``splitbrain lab up --hosts 5``)."""
    lab = lab_state()
    if lab is None or len(lab["hosts"]) != 5:
        raise SystemExit("--ssh needs a lab of 5 hosts: run 'splitbrain lab up --hosts 5' "
                         "(as root) first")
    options = SshOptions(user=lab["user"], key=lab["key"], known_hosts=lab["known_hosts"])
    return ssh_cluster(mode, list(lab["hosts"].values()), options, root)


async def main(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="splitbrain-bench-") as tmp:
        async with contextlib.AsyncExitStack() as stack:
            cluster = await stack.enter_async_context(
                local_cluster(args.mode, 5, Path(tmp) / "cluster"))
            remote = (await stack.enter_async_context(lab_cluster(args.mode, Path(tmp) / "ssh"))
                      if args.ssh else None)
            rows, ssh_rows = [], []
            for i in range(args.rounds):
                b = await cpu_per_op(bare(cluster, args.mode, args.workload, args.concurrency,
                                          args.seconds), args.seconds)
                h = await cpu_per_op(harness(cluster, args.mode, args.workload,
                                             args.concurrency, args.seconds,
                                             Path(tmp) / f"history-{i}.jsonl"), args.seconds)
                rows.append((b, h))
                if remote is not None:
                    ssh_rows.append(await harness(remote, args.mode, args.workload,
                                                  args.concurrency, args.seconds,
                                                  Path(tmp) / f"ssh-history-{i}.jsonl"))
    print(f"harness overhead: {args.mode} mode, {args.workload} workload, 5 nodes, "
          f"concurrency {args.concurrency}, {args.seconds:g} s per measurement")
    print("(CPU: microseconds of this process' CPU per op; the nodes run in other processes)")
    print(f"{'round':>5} {'bare ops/s':>11} {'tester ops/s':>13} {'ratio':>6} "
          f"{'bare CPU':>9} {'tester CPU':>11}")
    for i, ((b, bc), (h, hc)) in enumerate(rows, 1):
        print(f"{i:>5} {b:>11.0f} {h:>13.0f} {h / b:>6.2f} {bc:>9.0f} {hc:>11.0f}")
    bsum, hsum = sum(b for (b, _), _ in rows), sum(h for _, (h, _) in rows)
    ratio = hsum / bsum
    print(f"{'all':>5} {bsum / len(rows):>11.0f} {hsum / len(rows):>13.0f} {ratio:>6.2f}  "
          f"(target >= 0.90: {'met' if ratio >= 0.9 else 'NOT met'})")
    if ssh_rows:
        print("SSH hosts (lab, firewall network) vs local hosts (proxy network), tester ops/s:")
        for i, (((_, _), (h, _)), s) in enumerate(zip(rows, ssh_rows), 1):
            print(f"{i:>5} {h:>11.0f} {s:>13.0f} {s / h:>6.2f}")
        ssh_ratio = sum(ssh_rows) / hsum
        print(f"{'all':>5} {hsum / len(rows):>11.0f} {sum(ssh_rows) / len(rows):>13.0f} "
              f"{ssh_ratio:>6.2f}  (target >= 0.80: {'met' if ssh_ratio >= 0.8 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mode", default="dynamodb")
    p.add_argument("--workload", default="register")
    p.add_argument("--concurrency", type=int, default=10)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--ssh", action="store_true",
                   help="Also run on the 5 hosts of 'splitbrain lab up --hosts 5'.")
    sys.exit(asyncio.run(main(p.parse_args())))
