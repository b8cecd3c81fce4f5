"""Node throughput and latency: a 5-node cluster, 16 concurrent clients, one row per (mode,
workload) in :data:`ROWS`. Prints ops/s, p50 and p99 latency of acknowledged operations.

Writes are acknowledged only once W replicas have fsynced them. Clients reuse one kept-alive
HTTP connection each and spread over the nodes (client i talks to node i mod 5). Targets on
a 2-core machine: >= 1,000 writes/s and >= 3,000 reads/s. ``cpu ms/op`` is the CPU time all
node processes together spent per operation: unlike ops/s, it barely moves when other work
shares the machine.

    .venv/bin/python benchmarks/node.py [--seconds 5] [--mode dynamo] [--net proxy]

``--net proxy`` (the default, what tests run on) routes peer traffic through the tester's
per-link proxy process; ``--net netns`` needs root.

To add a mode or workload: add an ``async def op(client, rng, worker, i) -> Reply`` to
:data:`WORKLOADS` if needed and a ``(mode, workload)`` row to :data:`ROWS`; ``PARAMS`` holds
per-mode cluster parameters.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Awaitable, Callable

from splitbrain.db.client import NodeClient, Reply
from splitbrain.harness.cluster import local_cluster

NODES, CONCURRENCY, KEYS = 5, 16, 1000

Op = Callable[[NodeClient, random.Random, int, int], Awaitable[Reply]]


async def read(client: NodeClient, rng: random.Random, worker: int, i: int) -> Reply:
    return await client.get(f"k{rng.randrange(KEYS)}")


async def write(client: NodeClient, rng: random.Random, worker: int, i: int) -> Reply:
    # Distinct keys: blind writes to one key would pile up siblings in dynamo mode.
    return await client.put(f"w{worker}-{i}", i)


async def mix(client: NodeClient, rng: random.Random, worker: int, i: int) -> Reply:
    return await (read if rng.random() < 0.5 else write)(client, rng, worker, i)


async def strong_read(client: NodeClient, rng: random.Random, worker: int, i: int) -> Reply:
    return await client.get(f"k{rng.randrange(KEYS)}", consistency="strong")


async def eventual_read(client: NodeClient, rng: random.Random, worker: int, i: int) -> Reply:
    return await client.get(f"k{rng.randrange(KEYS)}", consistency="eventual")


_cas_versions: dict[int, int] = {}


async def cas(client: NodeClient, rng: random.Random, worker: int, i: int) -> Reply:
    """A conditional put on the worker's own key, on the version its last one produced."""
    expected = _cas_versions.get(worker, 0)
    reply = await client.put(f"cas{worker}", i, condition={"version": expected})
    if reply.type == "ok":
        _cas_versions[worker] = reply.meta["version"]
    return reply


WORKLOADS: dict[str, Op] = {"read": read, "write": write, "mix": mix, "strong-read": strong_read,
                            "eventual-read": eventual_read, "cas": cas}

ROWS: list[tuple[str, str]] = [
    ("dynamo", "write"), ("dynamo", "read"), ("dynamo", "mix"),
    ("lww", "write"), ("lww", "read"), ("lww", "mix"),
    ("dynamodb", "write"), ("dynamodb", "strong-read"), ("dynamodb", "eventual-read"),
    ("dynamodb", "cas"),
]

PARAMS: dict[str, dict] = {
    "dynamo": dict(n=3, r=2, w=2),
    "lww": dict(n=3, r=2, w=2),
    "dynamodb": dict(partitions=8, replication=3),
}


async def preload(clients: list[NodeClient]) -> None:
    async def load(worker: int) -> None:
        for k in range(worker, KEYS, len(clients)):
            # Retried: dynamodb partitions elect their first leaders, nodes dial their peers.
            for _ in range(100):
                reply = await clients[worker].put(f"k{k}", k)
                if reply.type == "ok":
                    break
                await asyncio.sleep(0.1)
            if reply.type != "ok":
                raise SystemExit(f"preloading k{k} failed: {reply}")

    await asyncio.gather(*(load(w) for w in range(len(clients))))


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far (Linux /proc)."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


async def measure(clients: list[NodeClient], op: Op, seconds: float, pids: list[int]) -> dict:
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds

    async def worker(w: int) -> None:
        nonlocal errors
        rng, i = random.Random(w), 0
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            reply = await op(clients[w], rng, w, i)
            if reply.type == "ok":
                latencies.append(time.perf_counter() - t0)
            else:
                errors += 1
            i += 1

    start, cpu = time.monotonic(), cpu_seconds(pids)
    await asyncio.gather(*(worker(w) for w in range(len(clients))))
    elapsed = time.monotonic() - start
    cpu = cpu_seconds(pids) - cpu
    latencies.sort()
    pick = (lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000
            if latencies else float("nan"))
    return {"ok": len(latencies), "errors": errors, "rate": len(latencies) / elapsed,
            "p50": pick(0.5), "p99": pick(0.99),
            "cpu": cpu * 1000 / max(1, len(latencies) + errors)}


async def bench_mode(mode: str, workloads: list[str], seconds: float, net: str,
                     root: Path) -> list[tuple[str, str, dict]]:
    out = []
    async with local_cluster(mode, NODES, root / mode, net=net, **PARAMS[mode]) as cluster:
        clients = [NodeClient(cluster.client_url(cluster.names[w % NODES]), timeout=5.0)
                   for w in range(CONCURRENCY)]
        try:
            await preload(clients)
            for workload in workloads:
                pids = [cluster.procs[name].pid for name in cluster.names]
                out.append((mode, workload,
                            await measure(clients, WORKLOADS[workload], seconds, pids)))
                print_row(*out[-1])
        finally:
            for c in clients:
                await c.close()
    return out


def print_row(mode: str, workload: str, m: dict) -> None:
    print(f"{mode:<10} {workload:<14} {m['rate']:>9.0f} {m['p50']:>8.2f} {m['p99']:>8.2f} "
          f"{m['cpu']:>9.2f} {m['ok']:>8} {m['errors']:>6}", flush=True)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0, help="duration of each row")
    ap.add_argument("--mode", action="append", help="only these modes (repeatable)")
    ap.add_argument("--net", default="proxy", choices=["proxy", "netns"])
    args = ap.parse_args()
    modes = list(dict.fromkeys(m for m, _ in ROWS if not args.mode or m in args.mode))
    print(f"{NODES} nodes, {CONCURRENCY} clients, {args.seconds:g} s per row, {args.net} network")
    print(f"{'mode':<10} {'workload':<14} {'ops/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'cpu ms/op':>9} {'ok':>8} {'errors':>6}")
    with tempfile.TemporaryDirectory(prefix="splitbrain-bench-") as tmp:
        for mode in modes:
            await bench_mode(mode, [w for m, w in ROWS if m == mode], args.seconds, args.net,
                             Path(tmp))


if __name__ == "__main__":
    asyncio.run(main())
