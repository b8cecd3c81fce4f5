"""The ``dynamodb`` mode: partitions replicated by Multi-Paxos with leased leaders, as the
DynamoDB paper (USENIX ATC 2022) describes its storage layer.

- The key space is split into ``partitions`` partitions by a hash of the key
  (:func:`partition_of`). Partition ``p`` is replicated on ``replication`` nodes chosen
  deterministically from the config's node order (:func:`placement`) so that groups and their
  preferred leaders spread evenly over the cluster.
- Each group runs :mod:`splitbrain.db.paxos`. Writes (put, conditional put, add, add-to-set) are
  ops in the partition's log; the leader batches them into slots and answers once the slot is
  chosen and applied. An item's ``version`` is the position of the write that produced it in
  the partition's sequence of applied writes (0 when absent), so conditional puts on versions
  are a linearizable compare-and-set.
- Strong reads are answered by the leader from its applied state while it holds its lease;
  eventual reads by any replica from its applied state (possibly stale, never invented).
- A node that is not the leader forwards the request to the leader it knows (and a node outside
  the group to the replica it last heard lead), the way DynamoDB's request routers hide
  leadership from clients. A forwarded request that finds no leader is refused definitely;
  one that was proposed and then not answered in time is indefinite.
- A write gets its op id at the node the client asked, and keeps it wherever it is forwarded,
  so a request that arrives twice (a duplicated message) is applied at most once: a second
  copy arriving while the first waits shares its wait and its result, and the state machine
  does not apply again an id among its last ``DEDUP_OPS`` ops (it answers the first error, or
  ok with the first version and ``values`` None: the state keeps no copy of them).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

from splitbrain.db import bugs as B
from splitbrain.db.env import Env
from splitbrain.db.errors import NodeError, bad_request, timeout, unavailable
from splitbrain.db.paxos import (BATCH, MSG_TYPES, ZERO, PaxosHost, Timing, as_ballot,
                                  expire_with_none)
from splitbrain.db.store import ReadResult, WriteResult

MAX_HOPS = 3
META = "dynamodb"
# How many applied op ids a partition remembers. A duplicated message trails its original by
# a network delay; a copy that arrives while the original is still waiting never reaches the
# log (PaxosHost.submit), so this only has to span the few batches applied meanwhile.
DEDUP_OPS = 1000


def partition_of(key: str, partitions: int) -> int:
    """The partition holding ``key`` (stable across processes and runs)."""
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % partitions


def placement(names: list[str], partitions: int, replication: int) -> dict[int, list[str]]:
    """Partition -> its replication group, first member preferred as leader. Leaders go
    round-robin over ``names``; the other members are the least-loaded nodes so far, ties
    broken by ring order after the leader, so every node holds about as many replicas."""
    n = len(names)
    load = dict.fromkeys(names, 0)
    groups = {}
    for p in range(partitions):
        ring = [names[(p + i) % n] for i in range(n)]
        members = [ring[0], *sorted(ring[1:], key=lambda x: load[x])[:replication - 1]]
        for m in members:
            load[m] += 1
        groups[p] = members
    return groups


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _set_order(element: Any) -> tuple:
    """How a set value is sorted: numbers by value, then strings, then anything else by its
    JSON text."""
    if _is_number(element):
        return (0, element, "")
    if isinstance(element, str):
        return (1, 0, element)
    return (2, 0, _canonical(element))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_condition(condition: dict | None) -> None:
    """Raise bad-request unless ``condition`` is None or one of docs/node-api.md's forms."""
    if condition is None:
        return
    ok = len(condition) == 1 and (
        condition.get("absent") is True
        or "equals" in condition
        or (isinstance(condition.get("version"), int)
            and not isinstance(condition.get("version"), bool) and condition["version"] >= 0))
    if not ok:
        raise bad_request("'condition' must be exactly one of {\"absent\": true}, "
                          "{\"equals\": X} or {\"version\": N} with N a non-negative integer.")


class KVState:
    """A partition's items, ``key -> [value, version]``, its count of applied writes, and the
    outcome of its last ``DEDUP_OPS`` applied ops by op id (the version written, or the error),
    so that an op applied twice takes effect once. The
    :class:`~splitbrain.db.paxos.StateMachine` the log is applied to."""

    def __init__(self) -> None:
        self.items: dict[str, list] = {}
        self.writes = 0
        self.recent: dict[str, int | dict] = {}
        self._digest: tuple[int, str] = (-1, "")

    def read(self, key: str) -> ReadResult:
        item = self.items.get(key)
        if item is None:
            return ReadResult(values=[], version=0)
        return ReadResult(values=[item[0]], version=item[1])

    def apply(self, op: dict) -> dict:
        """Apply one write op; the result is ``{"ok", "version", "values"}`` or an error
        (``error``, ``definite``, ``message``) when it did not take effect. An op whose ``id``
        is among the last ``DEDUP_OPS`` applied changes nothing: it gets the first error, or
        ``{"ok", "version"}`` of the first write with ``values`` None."""
        first = self.recent.get(op["id"])
        if isinstance(first, dict):
            return first
        if first is not None:
            return {"ok": True, "version": first, "values": None}
        result = self._apply(op)
        # Versions, not results: a result holds the whole new value (a set's every element).
        self.recent[op["id"]] = result["version"] if result.get("ok") else result
        if len(self.recent) > DEDUP_OPS:
            del self.recent[next(iter(self.recent))]
        return result

    def _apply(self, op: dict) -> dict:
        key = op["k"]
        item = self.items.get(key)
        value, version = (item[0], item[1]) if item is not None else (None, 0)
        f = op["f"]
        if f == "put":
            failed = _condition_fails(op.get("cond"), item, value, version)
            if failed:
                return {"error": "condition-failed", "definite": True, "version": version,
                        "message": f"the condition {failed} does not hold for {key!r} "
                                   f"(version {version}); nothing was written."}
            new = op["v"]
        elif f == "add":
            if item is not None and not _is_number(value):
                return {"error": "bad-request", "definite": True,
                        "message": f"{key!r} holds {_canonical(value)[:80]}, not a number; "
                                   f"add needs a number."}
            new = (value or 0) + op["v"]
        else:  # add_to_set
            if item is not None and not isinstance(value, list):
                return {"error": "bad-request", "definite": True,
                        "message": f"{key!r} holds {_canonical(value)[:80]}, not a set; "
                                   f"add-to-set needs a list."}
            members = {_canonical(e): e for e in value or ()}
            members[_canonical(op["v"])] = op["v"]
            new = sorted(members.values(), key=_set_order)
        self.writes += 1
        self.items[key] = [new, self.writes]
        return {"ok": True, "version": self.writes, "values": [new]}

    def snapshot(self) -> dict:
        # A copy: storage and transport may hold on to it while later writes apply. Items are
        # replaced on write, never mutated, so a shallow copy is a consistent snapshot.
        return {"writes": self.writes, "items": dict(self.items), "recent": dict(self.recent)}

    def digest(self) -> str:
        """A short hash of the applied state: equal on replicas that applied the same log.
        Recomputed only after writes (status may be polled)."""
        if self._digest[0] != self.writes:
            text = _canonical({"writes": self.writes, "items": self.items}).encode()
            self._digest = (self.writes, hashlib.blake2b(text, digest_size=8).hexdigest())
        return self._digest[1]

    def restore(self, data: dict) -> None:
        self.writes = int(data["writes"])
        self.items = {k: list(v) for k, v in data["items"].items()}
        self.recent = dict(data["recent"])
        self._digest = (-1, "")


def _condition_fails(cond: dict | None, item: list | None, value: Any, version: int) -> str:
    """The condition, rendered for a message, when it is false; '' when it holds."""
    if cond is None:
        return ""
    if "absent" in cond:
        return "" if item is None else "absent"
    if "equals" in cond:
        return "" if item is not None and value == cond["equals"] else \
            f"equals {_canonical(cond['equals'])[:80]}"
    return "" if version == cond["version"] else f"version {cond['version']}"


def _error(result: dict) -> NodeError:
    message = result.get("message") or {
        "unavailable": "this replica does not lead the partition (or lost its lease); "
                       "nothing was written.",
        "timeout": "the leader lost its leadership with the write in flight; it may or may "
                   "not take effect.",
    }.get(result["error"], "the operation failed.")
    return NodeError(result["error"], message, definite=bool(result["definite"]))


class DynamoDBStore:
    """The :class:`~splitbrain.db.store.Store` of the ``dynamodb`` mode on one node."""

    def __init__(self, env: Env):
        self.env = env
        cfg = env.config
        self.name = env.name
        self.bugs = B.planted(cfg)
        self.partitions = cfg.partitions
        self.groups = placement(cfg.names, cfg.partitions, cfg.replication)
        self.timing = Timing.from_config(cfg)
        self.budget = cfg.request_timeout_ms / 1000 * 0.9
        self.failure_timeout = cfg.failure_timeout_ms / 1000
        self.states: dict[int, KVState] = {}
        hosted = {p: m for p, m in self.groups.items() if self.name in m}
        self.host = PaxosHost(env, hosted, self._make_state, self.timing)
        self.hints: dict[int, str] = {}
        self.hint_ballots: dict[int, tuple] = {}
        self.announced: dict[int, tuple] = {}
        self.heard: dict[str, float] = {}
        self._replies: dict[str, asyncio.Future] = {}
        self._counter = 0
        self._incarnation = 0
        self._tasks: set[asyncio.Task] = set()
        self._announcer: asyncio.TimerHandle | None = None
        self._beats = 0

    def _make_state(self, p: int) -> KVState:
        self.states[p] = KVState()
        return self.states[p]

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        storage = self.env.storage
        self._incarnation = storage.get(META, "incarnation", 0) + 1
        storage.put(META, "incarnation", self._incarnation)
        await storage.sync()
        self.env.transport.set_handler(self._on_message)
        await self.host.start()
        self._beats = 0
        self._announcer = asyncio.get_running_loop().call_later(self.timing.heartbeat,
                                                                self._announce)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _announce(self) -> None:
        """Every heartbeat (a timer, not a task: it never waits), tell the nodes outside each
        group this node leads that it does: at once when it starts serving a new ballot, and
        every ten heartbeats. They route there."""
        self._announcer = asyncio.get_running_loop().call_later(self.timing.heartbeat,
                                                                self._announce)
        self._beats += 1
        now = self.host.now()
        for p, replica in self.host.replicas.items():
            if not replica.serving(now):
                continue
            if self.announced.get(p) == replica.ballot and self._beats % 10:
                continue
            self.announced[p] = replica.ballot
            for n in self.env.config.names:
                if n not in self.groups[p]:
                    self.env.transport.send(n, {"t": "leader", "p": p,
                                                "b": list(replica.ballot)})

    async def stop(self) -> None:
        if self._announcer is not None:
            self._announcer.cancel()
            self._announcer = None
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.host.stop()

    # -- the Store API ---------------------------------------------------------------

    async def get(self, key: str, *, consistency: str | None = None,
                  r: int | None = None) -> ReadResult:
        consistency = consistency or "eventual"
        if consistency not in ("strong", "eventual"):
            raise bad_request(f"consistency must be strong or eventual, not {consistency!r}.")
        res = await self._route(partition_of(key, self.partitions),
                                {"f": "get", "k": key, "c": consistency})
        return ReadResult(values=res["values"], version=res["version"], replica=res.get("replica"))

    async def put(self, key: str, value: Any, *, context: str | None = None,
                  w: int | None = None, condition: dict | None = None) -> WriteResult:
        check_condition(condition)
        if condition is not None and B.CAS_AT_FORWARDER in self.bugs:
            # Planted: the condition is judged here, on an eventual read, not in log order.
            r = await self.get(key, consistency="eventual")
            value_now = r.values[0] if r.values else None
            failed = _condition_fails(condition, r.values or None, value_now, r.version)
            if failed:
                raise NodeError("condition-failed", f"the condition {failed} does not hold "
                                f"for {key!r}; nothing was written.", definite=True)
            condition = None
        return await self._write({"f": "put", "k": key, "v": value, "cond": condition})

    async def add(self, key: str, delta: int | float) -> WriteResult:
        if not _is_number(delta):
            raise bad_request("the body needs a number 'delta', e.g. {\"delta\": 5}.")
        if B.ADD_AS_READ_MODIFY_WRITE in self.bugs:
            r = await self.get(key, consistency="strong")
            return await self._write({"f": "put", "k": key, "v": (r.values or [0])[0] + delta,
                                      "cond": None})
        return await self._write({"f": "add", "k": key, "v": delta})

    async def add_to_set(self, key: str, element: Any) -> WriteResult:
        if B.ADD_AS_READ_MODIFY_WRITE in self.bugs:
            r = await self.get(key, consistency="strong")
            members = {_canonical(e): e for e in (r.values or [[]])[0]}
            members[_canonical(element)] = element
            return await self._write({"f": "put", "k": key, "cond": None,
                                      "v": sorted(members.values(), key=_set_order)})
        return await self._write({"f": "add_to_set", "k": key, "v": element})

    async def _write(self, op: dict) -> WriteResult:
        self._counter += 1
        op = {**op, "id": f"{self.name}.{self._incarnation}.{self._counter}"}
        res = await self._route(partition_of(op["k"], self.partitions), op)
        return WriteResult(version=res["version"], values=res["values"])

    def status(self) -> dict[str, Any]:
        now = self.host.now()
        parts: dict[str, Any] = {}
        for p, members in self.groups.items():
            replica = self.host.replicas.get(p)
            if replica is not None:
                parts[str(p)] = {"replicas": members, **replica.status(now),
                                 "digest": self.states[p].digest()}
            else:
                parts[str(p)] = {"replicas": members, "leader": self.hints.get(p)}
        members = {n: "up" if now - self.heard.get(n, -1e9) < self.failure_timeout else "down"
                   for n in self.env.config.names if n != self.name}
        return {"members": members, "partitions": parts}

    # -- routing ---------------------------------------------------------------------

    async def _route(self, p: int, op: dict) -> dict:
        """Run ``op`` on partition ``p`` here if this node may, else at the leader it knows,
        following redirects. Raises NodeError; returns the op's result."""
        deadline = asyncio.get_running_loop().time() + self.budget
        target: str | None = self.name
        tried: set[str] = set()
        while target is not None and target not in tried and len(tried) < MAX_HOPS:
            tried.add(target)
            if target == self.name:
                res = await self._local(p, op, deadline)
            else:
                res = await self._forward(target, p, op, deadline)
            if "redirect" not in res:
                if target != self.name:
                    self.hints[p] = target
                return self._result(res)
            target = res["redirect"]
        raise unavailable(f"no leader of partition {p} is reachable from here; nothing was "
                          f"written.")

    def _result(self, res: dict) -> dict:
        if "error" in res:
            raise _error(res)
        return res

    def _leader_guess(self, p: int) -> str | None:
        replica = self.host.replicas.get(p)
        if replica is not None:
            # A leader silent for a lease length is likely gone: refuse (definitely) rather
            # than forward into a timeout.
            silent = self.host.now() - replica.last_heard > self.timing.lease
            return None if replica.leader == self.name or silent else replica.leader
        return self.hints.get(p) or self.groups[p][0]

    async def _local(self, p: int, op: dict, deadline: float) -> dict:
        """Serve ``op`` from this node's replica of ``p``, or ``{"redirect": node}`` (None:
        no leader known) when this node may not serve it. A write carries the op id
        :meth:`_write` gave it at the node the client asked."""
        replica = self.host.replicas.get(p)
        now = self.host.now()
        if op["f"] == "get":
            return self._read(p, op)
        if replica is None or not replica.serving(now):
            return {"redirect": self._leader_guess(p)}
        res = await self.host.submit(p, op, max(deadline - asyncio.get_running_loop().time(), 0))
        if res is None:
            return {"error": "timeout", "definite": False,
                    "message": f"partition {p} did not commit the write in time; it may or "
                               f"may not take effect."}
        return res

    def _read(self, p: int, op: dict) -> dict:
        """A read served here (eventual at any replica, strong at the leasing leader), or
        ``{"redirect": node}``."""
        replica = self.host.replicas.get(p)
        if replica is not None and (op["c"] == "eventual" or replica.serving(self.host.now())
                                    or B.STRONG_READ_ANY_REPLICA in self.bugs):
            r = self.states[p].read(op["k"])
            return {"values": r.values, "version": r.version,
                    "replica": {"name": self.name, "partition": p, "applied": replica.commit}}
        return {"redirect": self._leader_guess(p)}

    async def _forward(self, target: str, p: int, op: dict, deadline: float, *,
                       resent: bool = False) -> dict:
        loop = asyncio.get_running_loop()
        self._counter += 1
        rid = f"{self.name}.{self._incarnation}.f{self._counter}"
        fut = loop.create_future()
        self._replies[rid] = fut
        budget = deadline - loop.time()
        timer = loop.call_later(max(budget, 0), expire_with_none, fut)
        self.env.transport.send(target, {"t": "fwd", "id": rid, "p": p, "op": op,
                                         "budget": budget - 0.05})
        try:
            res = await fut
        finally:
            timer.cancel()
            self._replies.pop(rid, None)
        if res is not None:
            return res
        members = self.groups[p]
        after = members[(members.index(target) + 1) % len(members)] \
            if target in members else members[0]
        if p not in self.host.replicas:
            # Maybe the node is down: ask the next member of the group next time, which
            # serves or knows the new leader.
            self.hints[p] = after
        if (B.RETRY_NON_IDEMPOTENT in self.bugs and op["f"] != "get" and not resent
                and after != self.name):
            # Planted: the timed-out write may still commit at target; sending it again
            # (a new request id) can apply it twice.
            return await self._forward(after, p, op, loop.time() + self.budget, resent=True)
        if op["f"] == "get":
            raise timeout(f"{target}, which leads partition {p} as far as this node knows, "
                          f"did not answer the read in time.")
        raise timeout(f"{target}, which leads partition {p} as far as this node knows, did "
                      f"not answer in time; the write may or may not take effect.")

    # -- peer messages ---------------------------------------------------------------

    def _on_message(self, src: str, msg: dict) -> None:
        self.heard[src] = self.host.now()
        t = msg.get("t")
        if t in MSG_TYPES or t == BATCH:
            self.host.deliver(src, msg)
        elif t == "fwd":
            op = msg["op"]
            if op["f"] == "get":  # reads need no waiting: answer at once
                self._reply(src, msg, self._read(int(msg["p"]), op))
            else:
                self._spawn(self._serve_forwarded(src, msg))
        elif t == "leader":
            p, b = int(msg["p"]), as_ballot(msg["b"])
            if b >= self.hint_ballots.get(p, ZERO):
                self.hints[p], self.hint_ballots[p] = src, b
        elif t == "fwd_r":
            fut = self._replies.get(msg.get("id"))
            if fut is not None and not fut.done():
                fut.set_result(msg["res"])

    async def _serve_forwarded(self, src: str, msg: dict) -> None:
        deadline = asyncio.get_running_loop().time() + max(float(msg["budget"]), 0)
        self._reply(src, msg, await self._local(int(msg["p"]), msg["op"], deadline))

    def _reply(self, src: str, msg: dict, res: dict) -> None:
        self.env.transport.send(src, {"t": "fwd_r", "id": msg["id"], "res": res})
