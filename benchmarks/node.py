"""Node throughput and latency: 16 concurrent clients, one row per (mode, workload) in
:data:`ROWS`. Prints ops/s, p50 and p99 latency of acknowledged operations.

Writes are acknowledged only once W replicas have fsynced them. Clients reuse one kept-alive
HTTP connection each and spread over the nodes (client i talks to node i mod the node count).
The dynamo and lww rows run on 5 nodes; targets on a 2-core machine: >= 1,000 writes/s and
>= 3,000 reads/s. ``cpu ms/op`` is the CPU time all node processes together spent per
operation: unlike ops/s, it barely moves when other work shares the machine.

    .venv/bin/python benchmarks/node.py [--seconds 5] [--mode dynamodb --mode etcd] [--net loopback]

``--net loopback`` (the default) lets the nodes dial each other's peer ports on 127.0.0.1
directly (:class:`~splitbrain.harness.loopback.LoopbackNet`), as etcd's members do; ``--net
proxy`` routes peer traffic through the tester's per-link fault proxy (what tests run on: one
more process and two more socket hops per peer message, so it is slower); ``--net netns`` puts
every node, and every etcd member, in a network namespace of its own (needs root).

To add a mode or workload: add an ``async def op(client, rng, worker, i) -> Reply`` to
:data:`WORKLOADS` if needed and a ``(mode, workload)`` row to :data:`ROWS`; ``PARAMS`` holds
per-mode cluster parameters and ``NODES`` the node count.

Against etcd. The ``etcd`` rows drive a 3-member etcd cluster (Debian's etcd-server, fsync on:
3.4 has no switch to turn it off; data in a temporary folder) with the same client loop
through :class:`splitbrain.etcd.client.EtcdClient`: put, linearizable get, serializable get and
a txn compare-and-set. Both clusters run at once, and each dynamodb row and its matching
etcd row (``ETCD_MATCH``) are measured in alternating slices (``--slices``, 5 by default: 1 s
each of a 5 s row), so that the load other work puts on the machine weighs on both alike (each
cluster's idle heartbeats run during the other's slices). After the table, each dynamodb row
is printed as a ratio to its etcd row. The comparison is like for like: the
dynamodb rows run on 3 nodes (every node a replica of every partition, as every etcd member
holds every key), each acknowledging a write only after its fsync, on the same network as etcd
(loopback, or namespaces with ``--net netns``), with the same 16 clients over 1,000 keys. Only
with ``--net proxy`` does our node pay for the fault proxy while etcd (which cannot be proxied
per link) does not; the ratios are then marked as such. Rows of a system that is not
installed are skipped with the reason.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import tempfile
import time
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable

from splitbrain.db.client import NodeClient, Reply
from splitbrain.db.config import free_ports
from splitbrain.errors import BadInput
from splitbrain.etcd.client import EtcdClient
from splitbrain.etcd.nodes import EtcdNodes, find_etcd
from splitbrain.harness.cluster import local_cluster
from splitbrain.harness.interfaces import Placement
from splitbrain.harness.localhosts import LocalHosts
from splitbrain.harness.loopback import LoopbackNet
from splitbrain.harness.netnshosts import NetnsHosts

CONCURRENCY, KEYS = 16, 1000

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


_cas_values: dict[int, int] = {}


async def cas_value(client: EtcdClient, rng: random.Random, worker: int, i: int) -> Reply:
    """etcd's compare-and-set (a txn): put on the worker's own key if it holds the value the
    worker's last one wrote (the first one is a plain put)."""
    key, new = f"cas{worker}", i
    reply = (await client.put(key, new, condition={"equals": _cas_values[worker]})
             if worker in _cas_values else await client.put(key, new))
    if reply.type == "ok":
        _cas_values[worker] = new
    return reply


WORKLOADS: dict[str, Op] = {"read": read, "write": write, "mix": mix, "strong-read": strong_read,
                            "eventual-read": eventual_read, "cas": cas}
ETCD_WORKLOADS: dict[str, Op] = {"put": write, "linearizable-get": strong_read,
                                 "serializable-get": eventual_read, "txn-cas": cas_value}
#: Each dynamodb row beside the etcd row that does the same thing.
ETCD_MATCH = {"write": "put", "strong-read": "linearizable-get",
              "eventual-read": "serializable-get", "cas": "txn-cas"}
ETCD_MEMBERS = 3
#: Nodes per mode: dynamodb runs on as many nodes as etcd has members (module docstring).
NODES: dict[str, int] = {"dynamo": 5, "lww": 5, "dynamodb": ETCD_MEMBERS}

ROWS: list[tuple[str, str]] = [
    ("dynamo", "write"), ("dynamo", "read"), ("dynamo", "mix"),
    ("lww", "write"), ("lww", "read"), ("lww", "mix"),
    ("dynamodb", "write"), ("dynamodb", "strong-read"), ("dynamodb", "eventual-read"),
    ("dynamodb", "cas"),
    ("etcd", "put"), ("etcd", "linearizable-get"), ("etcd", "serializable-get"),
    ("etcd", "txn-cas"),
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


def cpu_times(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of process ``pid`` so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far."""
    return sum(sum(cpu_times(pid)) for pid in pids)


class Row:
    """One row's measurement, accumulated over one or more slices of time. Each client keeps
    its random generator and op counter from slice to slice."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors = 0
        self.elapsed = 0.0
        self.cpu = 0.0
        self.rngs = [random.Random(w) for w in range(CONCURRENCY)]
        self.counters = [0] * CONCURRENCY

    def summary(self) -> dict:
        lat = sorted(self.latencies)
        pick = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000
                if lat else float("nan"))
        return {"ok": len(lat), "errors": self.errors, "rate": len(lat) / self.elapsed,
                "p50": pick(0.5), "p99": pick(0.99),
                "cpu": self.cpu * 1000 / max(1, len(lat) + self.errors)}


async def measure(system: "System", op: Op, seconds: float, row: Row) -> None:
    """Run ``op`` from every client of ``system`` for ``seconds`` more, into ``row``."""
    deadline = time.monotonic() + seconds

    async def worker(w: int) -> None:
        client, rng = system.clients[w], row.rngs[w]
        while time.monotonic() < deadline:
            i = row.counters[w]
            row.counters[w] += 1
            t0 = time.perf_counter()
            reply = await op(client, rng, w, i)
            if reply.type == "ok":
                row.latencies.append(time.perf_counter() - t0)
            else:
                row.errors += 1

    start, cpu = time.monotonic(), cpu_seconds(system.pids)
    await asyncio.gather(*(worker(w) for w in range(CONCURRENCY)))
    row.elapsed += time.monotonic() - start
    row.cpu += cpu_seconds(system.pids) - cpu


class System:
    """A running, preloaded cluster under test: its clients (client i talks to node i mod the
    node count) and its processes' pids."""

    def __init__(self, clients: list, pids: list[int]):
        self.clients, self.pids = clients, pids


@contextlib.asynccontextmanager
async def etcd_system(net: str, root: Path) -> AsyncIterator[System]:
    """3 etcd members on loopback (``net`` loopback or proxy) or in namespaces (netns).
    BadInput, before anything starts, when etcd is not installed."""
    db = EtcdNodes(find_etcd(None))
    names = [f"e{i}" for i in range(1, ETCD_MEMBERS + 1)]
    hosts = NetnsHosts(root / "etcd", names) if net == "netns" else LocalHosts(root / "etcd",
                                                                                names)
    ports = free_ports(2 * ETCD_MEMBERS) if net != "netns" else [2379] * 3 + [2380] * 3
    placements = [Placement(n, n, hosts.address(n), hosts.node_dir(n, n), ports[i],
                            ports[ETCD_MEMBERS + i]) for i, n in enumerate(names)]
    await hosts.setup()
    try:
        db.setup(placements)
        for p in placements:
            await hosts.start(p.host, p.name, db.command(p.name, ""), db.log_file)
        clients = [EtcdClient(db.client_url(names[w % ETCD_MEMBERS]), timeout=5.0)
                   for w in range(CONCURRENCY)]
        try:
            deadline = time.monotonic() + 30
            while (await clients[0].health()).type != "ok":
                if time.monotonic() > deadline:
                    raise SystemExit("etcd did not elect a leader within 30 s")
                await asyncio.sleep(0.1)
            await preload(clients)
            yield System(clients, [hosts.procs[(n, n)].pid for n in names])
        finally:
            for c in clients:
                await c.close()
    finally:
        await hosts.teardown()
        await hosts.close()


@contextlib.asynccontextmanager
async def node_system(mode: str, net: str, root: Path) -> AsyncIterator[System]:
    """A cluster of our nodes in ``mode`` (``NODES[mode]`` of them) on network ``net``."""
    nodes = NODES[mode]
    async with local_cluster(mode, nodes, root / mode, net=LoopbackNet() if net == "loopback"
                             else net, **PARAMS[mode]) as cluster:
        clients = [NodeClient(cluster.client_url(cluster.names[w % nodes]), timeout=5.0)
                   for w in range(CONCURRENCY)]
        try:
            await preload(clients)
            yield System(clients, [cluster.procs[name].pid for name in cluster.names])
        finally:
            for c in clients:
                await c.close()


def print_row(mode: str, workload: str, m: dict) -> None:
    print(f"{mode:<10} {workload:<17} {m['rate']:>9.0f} {m['p50']:>8.2f} {m['p99']:>8.2f} "
          f"{m['cpu']:>9.2f} {m['ok']:>8} {m['errors']:>6}", flush=True)


async def bench(modes: list[str], args: argparse.Namespace, root: Path,
                rows: dict[tuple[str, str], dict]) -> None:
    """Measure the rows of ``modes``, all running at once, into ``rows``. With both dynamodb
    and etcd, each matching pair of rows is measured in ``args.slices`` alternating slices."""
    async with contextlib.AsyncExitStack() as stack:
        systems: dict[str, System] = {}
        for mode in modes:
            try:
                systems[mode] = await stack.enter_async_context(
                    etcd_system(args.net, root) if mode == "etcd"
                    else node_system(mode, args.net, root))
            except BadInput as e:
                print(f"{mode:<10} skipped: {e}")
        paired = {"dynamodb", "etcd"} <= systems.keys()
        for mode, workload in ROWS:
            if mode not in systems or (paired and mode == "etcd"):
                continue
            row, ops = Row(), WORKLOADS if mode != "etcd" else ETCD_WORKLOADS
            if not paired:
                await measure(systems[mode], ops[workload], args.seconds, row)
                rows[(mode, workload)] = row.summary()
                print_row(mode, workload, rows[(mode, workload)])
                continue
            theirs, their_row = ETCD_MATCH[workload], Row()
            for _ in range(args.slices):
                await measure(systems[mode], ops[workload], args.seconds / args.slices, row)
                await measure(systems["etcd"], ETCD_WORKLOADS[theirs],
                              args.seconds / args.slices, their_row)
            rows[(mode, workload)] = row.summary()
            rows[("etcd", theirs)] = their_row.summary()
            print_row(mode, workload, rows[(mode, workload)])
            print_row("etcd", theirs, rows[("etcd", theirs)])


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0, help="duration of each row")
    ap.add_argument("--slices", type=int, default=5,
                    help="alternating slices each dynamodb row and its etcd row are measured in")
    ap.add_argument("--mode", action="append", help="only these modes (repeatable)")
    ap.add_argument("--net", default="loopback", choices=["loopback", "proxy", "netns"],
                    help="the network between the nodes (module docstring)")
    args = ap.parse_args()
    modes = list(dict.fromkeys(m for m, _ in ROWS if not args.mode or m in args.mode))
    print(f"{CONCURRENCY} clients, {args.seconds:g} s per row, {args.net} network; nodes: "
          + ", ".join(f"{m} {NODES.get(m, ETCD_MEMBERS)}" for m in modes))
    print(f"{'mode':<10} {'workload':<17} {'ops/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'cpu ms/op':>9} {'ok':>8} {'errors':>6}")
    rows: dict[tuple[str, str], dict] = {}
    with tempfile.TemporaryDirectory(prefix="splitbrain-bench-") as tmp:
        together = [m for m in modes if m in ("dynamodb", "etcd")]
        for group in [[m] for m in modes if m not in together] + ([together] if together else []):
            await bench(group, args, Path(tmp), rows)
    ratios = [(ours, theirs) for ours, theirs in ETCD_MATCH.items()
              if ("dynamodb", ours) in rows and ("etcd", theirs) in rows]
    if ratios:
        print(f"\ndynamodb relative to etcd ({ETCD_MEMBERS} members), same run, "
              f"{args.slices} alternating slices per row:")
        if args.net == "proxy":
            print("(not like for like: our peer traffic went through the fault proxy, etcd's "
                  "did not; use --net loopback or netns)")
        print(f"{'dynamodb':<14} {'etcd':<17} {'ops/s ratio':>11} {'p99 ratio':>10}")
    for ours, theirs in ratios:
        a, b = rows[("dynamodb", ours)], rows[("etcd", theirs)]
        print(f"{ours:<14} {theirs:<17} {a['rate'] / b['rate']:>10.2f}x "
              f"{a['p99'] / b['p99']:>9.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
