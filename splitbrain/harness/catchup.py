"""Before the final reads: wait until the replicas of every replicated log have applied the same
prefix of it, so that final reads compare caught-up replicas (a lagging follower is not a
divergence; two replicas at the same applied index with different states are).

Rules:

- A node's ``GET /admin/status`` lists ``partitions``; for each partition it holds a replica of,
  ``commit_index`` has the entries applied by each replica it knows of, its own under its
  ``name`` (docs/node-api.md). Only a node's own index counts: what it knows of its peers may
  be old.
- A partition lags while the nodes that report their own index for it report different ones.
- A node that does not answer a poll counts with its last answer (a blip does not end the
  wait); one that never answered is left out: it may be down for good, and its final reads
  fail.
- Nodes without ``partitions`` (the dynamo and lww modes, which converge by anti-entropy, not by
  a log) have nothing to wait for.
- The wait is bounded by ``timeout``; then the final reads run anyway, and the convergence
  check names the replica that had not caught up.
"""

from __future__ import annotations

import asyncio
from typing import Any, Iterable, Mapping

from splitbrain.db.client import OK, NodeClient


def lagging(statuses: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """The partitions whose replicas report different applied indexes, as ``{partition:
    {node: applied}}``, from the nodes' status bodies."""
    applied: dict[str, dict[str, int]] = {}
    for status in statuses:
        name = status.get("name")
        for p, part in (status.get("partitions") or {}).items():
            own = (part.get("commit_index") or {}).get(name) if isinstance(part, dict) else None
            if isinstance(own, int):
                applied.setdefault(str(p), {})[str(name)] = own
    return {p: nodes for p, nodes in sorted(applied.items()) if len(set(nodes.values())) > 1}


async def wait_caught_up(clients: Mapping[str, NodeClient], timeout: float,
                         poll: float = 0.1) -> dict[str, Any]:
    """Poll every node's status until no partition lags or ``timeout`` seconds pass. Returns
    ``{"waited": seconds, "lagging": {partition: {node: applied}}}`` (``lagging`` empty when the
    replicas caught up)."""
    loop = asyncio.get_running_loop()  # its clock: virtual time in the simulator
    began = loop.time()
    last: dict[str, dict[str, Any]] = {}
    while True:
        replies = await asyncio.gather(*(c.status(timeout=max(poll, 1.0))
                                         for c in clients.values()))
        last.update((n, r.value) for n, r in zip(clients, replies)
                    if r.type == OK and isinstance(r.value, dict))
        behind = lagging(last.values())
        waited = loop.time() - began
        if not behind or waited >= timeout:
            return {"waited": round(waited, 3), "lagging": behind}
        await asyncio.sleep(poll)
