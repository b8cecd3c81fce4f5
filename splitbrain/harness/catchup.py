"""Before the final reads: wait until the replicas have caught up with each other, so that final
reads compare converged replicas (a lagging follower, or an owner that anti-entropy has not yet
repaired, is not a divergence; replicas that never converge are).

Rules:

- dynamodb: a node's ``GET /admin/status`` lists ``partitions``; for each partition it holds a
  replica of, ``commit_index`` has the entries applied by each replica it knows of, its own
  under its ``name`` (docs/node-api.md). Only a node's own index counts: what it knows of its
  peers may be old. A partition lags while the nodes that report their own index for it report
  different ones.
- dynamo and lww: a node's status lists ``merkle_roots``, the root of its Merkle tree for each
  ring range it owns, and ``hints_pending``. A range lags (as ``"range R"``) while its owners
  report different roots; ``"hints"`` lags while some node still holds hinted writes for an
  owner. ``"members"`` lags while such a node's gossip view has a peer down that answers the
  poll: until it hears the peer, it sends reads to fallbacks instead of owners (a final read
  of a node restarted by the heal was answered by two fallbacks that held nothing of the
  key). This is the wait Jepsen's final reads get from a recovery sleep and, in its Cassandra
  tests, from reading at consistency ALL; reading every replica would hide a divergence the
  final reads exist to find, so the replicas are waited for instead. Anti-entropy on its
  timer takes one range per node every two seconds (a full round is minutes), so while ranges
  lag the wait asks every such node to run it on all its ranges now (``POST
  /admin/anti-entropy``, as an operator runs ``nodetool repair``): convergence stays the
  store's own mechanism, and a divergence it cannot repair stays visible.
- A node that does not answer a poll counts with its last answer (a blip does not end the
  wait); one that never answered is left out: it may be down for good, and its final reads
  fail.
- The wait is bounded by ``timeout``; then the final reads run anyway, and the convergence
  check names the replica that had not caught up.
"""

from __future__ import annotations

import asyncio
from typing import Any, Iterable, Mapping

from splitbrain.db.client import OK, NodeClient

#: Seconds between two requests for repair while ring ranges lag.
REPAIR_EVERY = 1.0


def lagging(statuses: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """What has not caught up, from the nodes' status bodies: the partitions whose replicas
    report different applied indexes (``{partition: {node: applied}}``), the ring ranges whose
    owners report different Merkle roots (``{"range R": {node: root}}``), the nodes holding
    hints (``{"hints": {node: count}}``) and the dynamo or lww nodes that believe a node down
    although it answers (``{"members": {node: [peers]}}``)."""
    replicas: dict[str, dict[str, Any]] = {}
    hints: dict[str, int] = {}
    for status in statuses:
        name = str(status.get("name"))
        for p, part in (status.get("partitions") or {}).items():
            own = (part.get("commit_index") or {}).get(name) if isinstance(part, dict) else None
            if isinstance(own, int):
                replicas.setdefault(str(p), {})[name] = own
        for rng, root in (status.get("merkle_roots") or {}).items():
            replicas.setdefault(f"range {rng}", {})[name] = root
        if status.get("hints_pending"):
            hints[name] = status["hints_pending"]
    out = {p: nodes for p, nodes in sorted(replicas.items()) if len(set(nodes.values())) > 1}
    if hints:
        out["hints"] = hints
    answering = {str(status.get("name")) for status in statuses}
    views = {str(status.get("name")): down for status in statuses if "merkle_roots" in status
             and (down := sorted(p for p, state in (status.get("members") or {}).items()
                                 if state != "up" and p in answering))}
    if views:
        out["members"] = views
    return out


async def wait_caught_up(clients: Mapping[str, NodeClient], timeout: float,
                         poll: float = 0.1) -> dict[str, Any]:
    """Poll every node's status until nothing lags or ``timeout`` seconds pass; while ring
    ranges lag, ask the nodes that report Merkle roots to repair (``POST /admin/anti-entropy``)
    at most every :data:`REPAIR_EVERY` seconds. Returns ``{"waited": seconds, "lagging": ...,
    "repairs": rounds}`` (``lagging`` is :func:`lagging`'s answer, empty when the replicas
    caught up; ``repairs`` how many times the repair was asked for)."""
    loop = asyncio.get_running_loop()  # its clock: virtual time in the simulator
    began = loop.time()
    last: dict[str, dict[str, Any]] = {}
    repairs, repaired_at = 0, -REPAIR_EVERY
    while True:
        replies = await asyncio.gather(*(c.status(timeout=max(poll, 1.0))
                                         for c in clients.values()))
        last.update((n, r.value) for n, r in zip(clients, replies)
                    if r.type == OK and isinstance(r.value, dict))
        behind = lagging(last.values())
        waited = loop.time() - began
        if not behind or waited >= timeout:
            return {"waited": round(waited, 3), "lagging": behind, "repairs": repairs}
        merkle = [n for n, status in last.items() if "merkle_roots" in status]
        if merkle and waited - repaired_at >= REPAIR_EVERY:
            await asyncio.gather(*(clients[n].repair(timeout=max(poll, 1.0)) for n in merkle))
            repairs, repaired_at = repairs + 1, waited
        await asyncio.sleep(poll)
