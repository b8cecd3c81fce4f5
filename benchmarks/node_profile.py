"""Where a dynamodb node's CPU goes per write: the table of docs/performance.md.

Starts the 3-node loopback cluster of ``benchmarks/node.py``, runs its write workload for
``--seconds``, and meanwhile samples every node with py-spy (``--gil``: only while the node's
Python thread holds the GIL, that is, runs Python). Each sample counts for the innermost frame
that falls in one of :data:`CATEGORIES`; the table gives each category's share of those
samples, then each node's user and system CPU time.

    .venv/bin/pip install py-spy        # a profiling tool, not a dependency of splitbrain
    .venv/bin/python benchmarks/node_profile.py [--seconds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from node import WORKLOADS, Row, cpu_seconds, cpu_times, measure, node_system  # benchmarks/node.py

#: (category, regular expression on a py-spy frame), innermost match wins; first rule first.
CATEGORIES: list[tuple[str, str]] = [
    ("fsync itself (the part holding the GIL)", r"_write_and_fsync"),
    ("hand-off to a thread pool", r"concurrent/futures|run_in_executor|_chain_future"),
    ("msgpack: peer frames and log records", r"packb|unpackb|\bframe \(|FrameDecoder|_record \("),
    ("JSON", r"/json/|_dumps \(|_body \("),
    ("HTTP server (aiohttp)", r"aiohttp/|yarl/|multidict/"),
    ("Paxos protocol", r"paxos\.py"),
    ("routing, forwarding, state machine", r"dynamodb\.py"),
    ("API handlers", r"db/api\.py"),
    ("storage: log append, group commit", r"FileStorage"),
    ("peer transport", r"TcpTransport|_Inbound|_Link"),
    ("asyncio machinery", r"asyncio/|uvloop|runners\.py"),
]
IDLE = re.compile(r"^(Runner\.run|_worker|_thread_main) ")


def categorize(raw: str) -> collections.Counter:
    """Samples per category from py-spy's raw output (``frame;frame;... count`` per line,
    innermost frame last); samples of an idle loop or thread are left out."""
    counts: collections.Counter = collections.Counter()
    for line in raw.splitlines():
        stack, _, n = line.rpartition(" ")
        frames = stack.split(";")
        if not n.isdigit() or IDLE.match(frames[-1]):
            continue
        hit = next((name for f in reversed(frames) for name, rx in CATEGORIES
                    if re.search(rx, f)), "other")
        counts[hit] += int(n)
    return counts


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=15.0, help="how long writes run")
    args = ap.parse_args()
    pyspy = shutil.which("py-spy") or shutil.which("py-spy", path=os.path.dirname(sys.executable))
    if pyspy is None:
        print("py-spy is not installed; install it with `.venv/bin/pip install py-spy`.")
        raise SystemExit(254)
    with tempfile.TemporaryDirectory(prefix="splitbrain-profile-") as tmp:
        async with node_system("dynamodb", "loopback", Path(tmp)) as system:
            sample = max(1.0, args.seconds - 2)
            before = [cpu_times(pid) for pid in system.pids]
            spies = [subprocess.Popen([pyspy, "record", "-p", str(pid), "-d", f"{sample:g}",
                                       "-r", "200", "--gil", "-f", "raw",
                                       "-o", f"{tmp}/{pid}.txt"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                     for pid in system.pids]
            row = Row()
            cpu = cpu_seconds(system.pids)
            await measure(system, WORKLOADS["write"], args.seconds, row)
            cpu = cpu_seconds(system.pids) - cpu
            after = [cpu_times(pid) for pid in system.pids]
            for spy in spies:
                spy.wait(timeout=30)
            counts = [categorize(Path(f"{tmp}/{pid}.txt").read_text())
                      if Path(f"{tmp}/{pid}.txt").exists() else collections.Counter()
                      for pid in system.pids]
    m = row.summary()
    print(f"{m['rate']:.0f} writes/s, {cpu * 1000 / max(1, m['ok']):.2f} ms of node CPU per "
          f"write, over {args.seconds:g} s")
    total = sum(counts, collections.Counter())
    busy = sum(total.values()) or 1
    print(f"{'where':<42} {'all':>5} " + " ".join(f"{'n' + str(i + 1):>5}"
                                                  for i in range(len(counts))))
    for name, n in total.most_common():
        print(f"{name:<42} {100 * n / busy:>4.0f}% " + " ".join(
            f"{100 * c[name] / (sum(c.values()) or 1):>4.0f}%" for c in counts))
    for i, ((u0, s0), (u1, s1)) in enumerate(zip(before, after)):
        user, system_time = u1 - u0, s1 - s0
        print(f"n{i + 1}: user {user:.2f} s, system {system_time:.2f} s "
              f"({100 * system_time / max(user + system_time, 1e-9):.0f} % in the kernel)")


if __name__ == "__main__":
    asyncio.run(main())
