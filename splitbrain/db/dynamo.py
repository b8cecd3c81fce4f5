"""The ``dynamo`` and ``lww`` modes: a leaderless Dynamo-style store (SOSP 2007).

One :class:`DynamoStore` per node. Mechanisms and where they live:

- Placement: :class:`~splitbrain.db.ring.Ring` (vnodes, preference lists).
- Coordination: a put is coordinated by an owner of the key that is up (a request reaching any
  other node is forwarded there), because in ``dynamo`` mode the coordinator names the new
  version with its next dot and must hold every version it made before (versions.py); dots
  are made by the actor ``name.incarnation``, so a node restarted after a crash never reuses
  a dot it made but lost. When no owner is reachable, the node the client reached coordinates
  under an actor of its own used for that one write (``name.incarnation.k``), so that writes
  stay possible while any W nodes are. The
  coordinator writes the new state locally, sends it to the first N reachable nodes of the
  preference list and acknowledges after W of them have it on disk. ``lww`` writes are
  coordinated by the node the client reached, with its wall clock (plus offset) as timestamp.
  A get asks the first N reachable nodes and returns the merge of the first R answers.
- Sloppy quorum and hinted handoff: an owner believed down is replaced by the next reachable
  fallback, which stores the state durably as a hint for that owner and hands it off when the
  owner is seen up again; reads merge a node's hints with its own data.
- Read repair: once every replica asked by a get has answered (or the timeout passed), the
  ones that returned a stale state get the merged one.
- Anti-entropy: on a timer each node compares the Merkle tree of a random range it owns with
  another owner, descending level by level, and both exchange the keys of differing leaves.
- Membership: :class:`~splitbrain.db.membership.Membership` (gossip + local suspicion).

Peer messages are dicts with ``t`` (type) and, for request/answer pairs, ``rid``. Every state
sent is the sender's full state of the key, so any replica holding a version also holds every
version its coordinator had (what makes the causal contexts exact, see versions.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any

from splitbrain.db import bugs as B
from splitbrain.db import versions as v
from splitbrain.db.env import Env, Message
from splitbrain.db.errors import NodeError, bad_request, timeout, unavailable
from splitbrain.db.membership import Membership
from splitbrain.db.merkle import DEPTH, LeafHashes, key_bucket
from splitbrain.db.ring import Ring
from splitbrain.db.store import ReadResult, WriteResult, quorum

log = logging.getLogger("splitbrain.node")

KV, HINTS, META = "kv", "hints", "meta"
GOSSIP_FANOUT = 2
HANDOFF_BATCH = 256


def digest(state: v.State) -> bytes:
    """A digest of a key's canonical state (what Merkle leaves hash)."""
    return hashlib.blake2b(v.pack(state), digest_size=8).digest()


# ---------------------------------------------------------------------------------------------
# What differs between the two modes: how versions are made, merged and read.


class DvvVersions:
    """``dynamo``: dotted version vectors, siblings, causal contexts."""

    coordinated_by_owner = True

    @staticmethod
    def parse_context(text: str | None) -> v.Context:
        if text is None:
            return v.Context()
        try:
            return v.Context.decode(text)
        except ValueError:
            raise bad_request("the context does not parse; send back the context string a "
                              "read returned, unchanged.") from None

    merge = staticmethod(v.dvv_merge)

    @staticmethod
    def write(local: v.State, value: Any, ctx: v.Context, node: str,
              wall: float) -> tuple[v.State, WriteResult]:
        state, history = v.dvv_write(local, value, ctx, node)
        return state, WriteResult(context=history.encode())

    @staticmethod
    def read(state: v.State) -> ReadResult:
        return ReadResult(values=[s[v.VALUE] for s in state],
                          context=v.dvv_context(state).encode())


class LwwVersions:
    """``lww``: one value per key, the highest coordinator timestamp wins; contexts ignored."""

    coordinated_by_owner = False

    @staticmethod
    def parse_context(text: str | None) -> None:
        return None

    merge = staticmethod(v.lww_merge)

    @staticmethod
    def write(local: v.State, value: Any, ctx: None, node: str,
              wall: float) -> tuple[v.State, WriteResult]:
        return v.lww_write(local, value, wall, node), WriteResult(ts=wall)

    @staticmethod
    def read(state: v.State) -> ReadResult:
        if not state:
            return ReadResult(values=[])
        ts, _, value = state[0]
        return ReadResult(values=[value], ts=ts)


class DvvConcurrentAsDescendant(DvvVersions):
    """Planted bug ``vv-concurrent-as-descendant``: a sibling also counts as dominated by any
    sibling with a higher ``(counter, actor)`` whose history reaches its counter on *some*
    actor, so some concurrent writes are dropped as if overwritten."""

    @staticmethod
    def merge(a: v.State, b: v.State) -> v.State:
        kept = v.dvv_merge(a, b)
        reach = {id(s): max(v.history(s).vv.values(), default=0) for s in kept}
        return [s for s in kept if not any(
            (t[v.COUNTER], t[v.NODE]) > (s[v.COUNTER], s[v.NODE]) and reach[id(t)] >= s[v.COUNTER]
            for t in kept)]


class LwwNoTiebreak(LwwVersions):
    """Planted bug ``lww-no-tiebreak``: timestamps rounded down to the second, and of equal
    ones the version already held wins (no tie-break), so replicas keep different values."""

    @staticmethod
    def merge(a: v.State, b: v.State) -> v.State:
        both = list(a) + list(b)
        return [max(both, key=lambda version: version[v.TS])] if both else []

    @staticmethod
    def write(local: v.State, value: Any, ctx: None, node: str,
              wall: float) -> tuple[v.State, WriteResult]:
        ts = float(int(wall))
        return LwwNoTiebreak.merge(local, [[ts, node, value]]), WriteResult(ts=ts)


def versions_for(mode: str, bugs: frozenset[str]) -> type[DvvVersions] | type[LwwVersions]:
    """The versions class of ``mode``, or its planted-bug variant when ``bugs`` has one."""
    if mode == "dynamo":
        return DvvConcurrentAsDescendant if B.VV_CONCURRENT_AS_DESCENDANT in bugs else DvvVersions
    return LwwNoTiebreak if B.LWW_NO_TIEBREAK in bugs else LwwVersions


# ---------------------------------------------------------------------------------------------


class _Call:
    """Answers to one request sent to ``targets``. ``quorum`` resolves once ``need`` of them
    succeeded, success became impossible, or ``timeout`` seconds passed; ``done`` once all
    answered or the timeout passed. No task is created per call."""

    def __init__(self, targets: list[str], need: int, timeout: float):
        loop = asyncio.get_running_loop()
        self.targets = targets
        self.need = need
        self.answers: dict[str, Message] = {}
        self.failed = 0
        self.quorum = loop.create_future()
        self.done = loop.create_future()
        self._timer = loop.call_later(timeout, self.expire)

    @property
    def succeeded(self) -> int:
        return len(self.answers) - self.failed

    @property
    def silent(self) -> list[str]:
        return [t for t in self.targets if t not in self.answers]

    def answer(self, src: str, msg: Message) -> None:
        if src in self.answers or src not in self.targets or self.done.done():
            return
        self.answers[src] = msg
        if not msg.get("ok", True):
            self.failed += 1
        if not self.quorum.done() and (self.succeeded >= self.need
                                       or len(self.targets) - self.failed < self.need):
            self.quorum.set_result(None)
        if len(self.answers) == len(self.targets):
            self._timer.cancel()
            self.expire()

    def expire(self) -> None:
        for fut in (self.quorum, self.done):
            if not fut.done():
                fut.set_result(None)


def _counted(call: _Call, needed: int, stand_ins: dict[str, str | None]) -> dict[str, int]:
    """The :func:`~splitbrain.db.store.quorum` of a call that reached its quorum: the
    successful answers it holds now, and how many came from a fallback (``stand_ins`` maps each
    target to the owner it stands in for, None for an owner)."""
    ok = [node for node, msg in call.answers.items() if msg.get("ok", True)]
    return quorum(needed, len(ok), sum(1 for node in ok if stand_ins.get(node) is not None))


class DynamoStore:
    """The :class:`~splitbrain.db.store.Store` of modes ``dynamo`` and ``lww``."""

    def __init__(self, env: Env):
        cfg = env.config
        self.env = env
        self.name = env.name
        self.storage = env.storage
        self.mode = cfg.mode
        self.bugs = B.planted(cfg)
        self.versions = versions_for(cfg.mode, self.bugs)
        self.ring = Ring(cfg.names, cfg.vnodes)
        self.n, self.r, self.w = cfg.n, cfg.r, cfg.w
        self.timeout = cfg.request_timeout_ms / 1000
        self.owned = self.ring.owned_ranges(self.name, self.n)
        self.leaves = LeafHashes()
        self.digests: dict[str, bytes] = {}
        self.range_keys: dict[int, set[str]] = {}
        self.hint_owners: dict[str, set[str]] = {}
        self.membership: Membership | None = None
        self.actor = self.name
        self._calls: dict[int, _Call] = {}
        self._rid = 0
        self._handoffs: set[tuple[str, str]] = set()
        self._view: dict[str, str] = {}
        self._one_shot = 0
        self._ae_next = env.rng.randrange(len(self.owned)) if self.owned else 0
        self._tasks: set[asyncio.Task] = set()
        self._timers: list[asyncio.Task] = []

    # -- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        incarnation = self.storage.get(META, "incarnation", 0) + 1
        self.storage.put(META, "incarnation", incarnation)
        await self.storage.sync()
        # Dots are named per incarnation: a crash may lose a dot this node made but had not yet
        # synced while replicas kept it, so the restarted node must never make that dot again.
        self.actor = f"{self.name}.{incarnation}" if self.mode == "dynamo" else self.name
        cfg = self.env.config
        self.membership = Membership(self.name, cfg.names, incarnation,
                                     cfg.failure_timeout_ms / 1000, self.env.clock.monotonic)
        for key, state in self.storage.scan(KV):
            self._index(key, state)
        for (owner, key), _ in self.storage.scan(HINTS):
            self.hint_owners.setdefault(key, set()).add(owner)
        self.env.transport.set_handler(self._on_message)
        self._timers = [
            asyncio.ensure_future(self._every(cfg.gossip_interval_ms, self._gossip)),
            asyncio.ensure_future(self._every(cfg.hint_interval_ms, self._handoff)),
            asyncio.ensure_future(self._every(cfg.anti_entropy_interval_ms, self._anti_entropy)),
        ]

    async def stop(self) -> None:
        for t in self._timers + list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._timers, *self._tasks, return_exceptions=True)
        for call in list(self._calls.values()):
            call.expire()  # whoever waits on it gets its answer: too few replies

    async def _every(self, interval_ms: int, step: Any) -> None:
        while True:
            # Jitter keeps nodes from acting in lockstep.
            await asyncio.sleep(interval_ms / 1000 * (0.5 + self.env.rng.random()))
            try:
                step()
            except Exception:
                log.exception("periodic task %s failed", step.__name__)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- local data -------------------------------------------------------------------

    def _index(self, key: str, state: v.State) -> None:
        """Key ``key`` now has ``state``: update its Merkle leaf and its range's key set."""
        rng = self.ring.range_of(key)
        new_digest = digest(state)
        self.leaves.update(rng, key, self.digests.get(key), new_digest)
        self.digests[key] = new_digest
        self.range_keys.setdefault(rng, set()).add(key)

    def _apply(self, key: str, incoming: v.State, hint_for: str | None = None) -> None:
        """Merge ``incoming`` into this node's state of ``key`` (or into its hint for owner
        ``hint_for``). The caller syncs before acknowledging."""
        table, row = (KV, key) if hint_for is None else (HINTS, (hint_for, key))
        old = self.storage.get(table, row) or []
        merged = self.versions.merge(old, incoming)
        if merged == old:
            return
        self.storage.put(table, row, merged)
        if hint_for is None:
            self._index(key, merged)
        else:
            self.hint_owners.setdefault(key, set()).add(hint_for)

    def _overwrite(self, key: str, state: v.State, hint_for: str | None = None) -> None:
        """Planted bugs read-repair-overwrites and anti-entropy-overwrites: replace this node's
        state of ``key`` (or its hint for ``hint_for``) with ``state`` instead of merging."""
        if hint_for is None:
            self.storage.put(KV, key, state)
            self._index(key, state)
        else:
            self.storage.put(HINTS, (hint_for, key), state)
            self.hint_owners.setdefault(key, set()).add(hint_for)

    async def _sync(self) -> None:
        """Make this node's writes durable before acknowledging them (skipped by the planted
        bug dynamo-ack-before-fsync: the writes then wait for some later sync)."""
        if B.DYNAMO_ACK_BEFORE_FSYNC not in self.bugs:
            await self.storage.sync()

    def _local_read(self, key: str) -> v.State:
        """This node's own state of ``key`` merged with any hints it holds for it."""
        state = self.storage.get(KV, key) or []
        for owner in self.hint_owners.get(key, ()):
            state = self.versions.merge(state, self.storage.get(HINTS, (owner, key)) or [])
        return state

    # -- placement --------------------------------------------------------------------

    def _up(self, node: str) -> bool:
        return self.membership.is_up(node)

    def _targets(self, key: str) -> list[tuple[str, str | None]]:
        """The first N reachable nodes of the preference list, each with the owner it stands
        in for (None for an owner)."""
        pref = self.ring.preference_list(key)
        owners, rest = pref[:self.n], pref[self.n:]
        down = [o for o in owners if not self._up(o)]
        fallbacks = [f for f in rest if self._up(f)]
        return [(o, None) for o in owners if self._up(o)] + list(zip(fallbacks, down))

    # -- client operations ------------------------------------------------------------

    async def get(self, key: str, *, consistency: str | None = None,
                  r: int | None = None) -> ReadResult:
        r = self._quorum(r, "r")
        targets = self._targets(key)
        if len(targets) < r:
            raise unavailable(f"only {len(targets)} replicas of {key!r} are reachable and the "
                              f"read needs {r}; nothing was read.")
        nodes = [node for node, _ in targets]
        rid, call = self._call(nodes, r)
        for node in nodes:
            if node == self.name:
                call.answer(node, {"state": self._local_read(key)})
            else:
                self.env.transport.send(node, {"t": "get", "rid": rid, "key": key})
        call.done.add_done_callback(lambda _: self._read_repair(call, key, dict(targets)))
        await call.quorum
        if call.succeeded < r:
            raise timeout(f"only {call.succeeded} of the {r} replicas needed answered the read "
                          f"of {key!r} in time.")
        res = self.versions.read(self._merged(call))
        res.quorum = _counted(call, r, dict(targets))
        return res

    async def put(self, key: str, value: Any, *, context: str | None = None,
                  w: int | None = None, condition: dict | None = None) -> WriteResult:
        if condition is not None:
            raise bad_request(f"conditional writes exist only in dynamodb mode, not {self.mode}.")
        w = self._quorum(w, "w")
        ctx = self.versions.parse_context(context)
        owners = self.ring.owners(key, self.n)
        if self.name in owners or not self.versions.coordinated_by_owner:
            return await self._coordinate(key, value, ctx, w, self.actor)
        up = [o for o in owners if self._up(o)]
        if up:
            return await self._forward(up[0], key, value, context, w)
        # No owner reachable: coordinate here, under an actor used for this one write only,
        # whose single dot needs no history of its own.
        self._one_shot += 1
        return await self._coordinate(key, value, ctx, w, f"{self.actor}.{self._one_shot}")

    async def add(self, key: str, delta: int | float) -> WriteResult:
        raise bad_request(f"add exists only in dynamodb mode; in {self.mode} mode read the "
                          f"value, add, and put it back with the read's context.")

    async def add_to_set(self, key: str, element: Any) -> WriteResult:
        raise bad_request(f"add-to-set exists only in dynamodb mode; in {self.mode} mode read "
                          f"the siblings, merge them, and put the union back with the read's "
                          f"context.")

    def status(self) -> dict[str, Any]:
        return {"members": self.membership.view() if self.membership else {},
                "n": self.n, "r": self.r, "w": self.w,
                "ring": self.ring.describe(),
                "hints_pending": sum(1 for _ in self.storage.scan(HINTS)),
                "keys": len(self.digests),
                # Equal on the owners of a range that hold the same states: what a tester
                # waits on before final reads (harness/catchup.py).
                "merkle_roots": {str(rng): self.leaves.tree(rng).root.hex()
                                 for rng in self.owned}}

    def _quorum(self, value: int | None, name: str) -> int:
        if B.SLOPPY_QUORUM_R1W1 in self.bugs:
            return 1
        if value is None:
            return self.r if name == "r" else self.w
        if value > self.n:
            raise bad_request(f"{name}={value} exceeds this cluster's n={self.n}.")
        return value

    # -- coordination -----------------------------------------------------------------

    async def _coordinate(self, key: str, value: Any, ctx: Any, w: int,
                          actor: str) -> WriteResult:
        targets = self._targets(key)
        if len(targets) < w:
            raise unavailable(f"only {len(targets)} replicas of {key!r} are reachable and the "
                              f"write needs {w}; nothing was written.")
        state, result = self.versions.write(self._local_read(key), value, ctx, actor,
                                            self.env.clock.wall())
        nodes = [node for node, _ in targets]
        rid, call = self._call(nodes, w)
        for node, hint_for in targets:
            if node != self.name:
                self.env.transport.send(node, {"t": "put", "rid": rid, "key": key,
                                               "state": state, "hint": hint_for})
        if self.name in nodes:
            self._apply(key, state, dict(targets)[self.name])
            await self._sync()
            call.answer(self.name, {"ok": True})
        await call.quorum
        if call.succeeded < w:
            raise timeout(f"only {call.succeeded} of the {w} replicas needed acknowledged the "
                          f"write of {key!r} in time; it may still be applied.")
        result.quorum = _counted(call, w, dict(targets))
        return result

    async def _forward(self, coordinator: str, key: str, value: Any, context: str | None,
                       w: int) -> WriteResult:
        rid, call = self._call([coordinator], 1, factor=1.5)
        self.env.transport.send(coordinator, {"t": "fwd", "rid": rid, "key": key,
                                              "value": value, "context": context, "w": w})
        await call.quorum
        answer = call.answers.get(coordinator)
        if answer is None:
            raise timeout(f"the coordinator {coordinator} of {key!r} did not answer in time; "
                          f"the write may still be applied.")
        if not answer["ok"]:
            raise NodeError(answer["error"], answer["message"], definite=answer["definite"])
        return WriteResult(ts=answer.get("ts"), context=answer.get("context"),
                           quorum=answer.get("quorum"))

    def _merged(self, call: _Call) -> v.State:
        merged: v.State = []
        for msg in call.answers.values():
            merged = self.versions.merge(merged, msg["state"])
        return merged

    def _read_repair(self, call: _Call, key: str, hints: dict[str, str | None]) -> None:
        """Once every replica a get asked has answered or timed out: send the merged state
        to those that answered with less."""
        merged = self._merged(call)
        for node, msg in call.answers.items():
            if msg.get("state") != merged:
                if node == self.name:
                    repair = (self._overwrite if B.READ_REPAIR_OVERWRITES in self.bugs
                              else self._apply)
                    repair(key, merged, hints.get(node))
                else:
                    self.env.transport.send(node, {"t": "repair", "key": key, "state": merged,
                                                   "hint": hints.get(node)})

    # -- request plumbing -------------------------------------------------------------

    def _call(self, targets: list[str], need: int, factor: float = 1.0) -> tuple[int, _Call]:
        """A registered call with its request id; it is forgotten once done, and the targets
        that stayed silent until the timeout are suspected."""
        self._rid += 1
        rid = self._rid
        call = self._calls[rid] = _Call(targets, need, self.timeout * factor)
        call.done.add_done_callback(lambda _: self._finish(rid, call))
        return rid, call

    def _finish(self, rid: int, call: _Call) -> None:
        self._calls.pop(rid, None)
        for node in call.silent:
            self.membership.suspect(node)

    # -- peer messages ----------------------------------------------------------------

    def _on_message(self, src: str, msg: Message) -> Any:
        kind = msg.get("t")
        if kind == "ans":
            self.membership.heard_from(src)
            call = self._calls.get(msg.get("rid"))
            if call is not None:
                call.answer(src, msg)
            return None
        handler = self._handlers.get(kind)
        if handler is None:
            log.warning("ignoring a peer message of unknown type %r from %s", kind, src)
            return None
        return handler(self, src, msg)

    def _answer(self, dest: str, rid: int, **fields: Any) -> None:
        self.env.transport.send(dest, {"t": "ans", "rid": rid, **fields})

    def _on_get(self, src: str, msg: Message) -> None:
        self._answer(src, msg["rid"], state=self._local_read(msg["key"]))

    async def _on_put(self, src: str, msg: Message) -> None:
        self._apply(msg["key"], msg["state"], msg.get("hint"))
        await self._sync()
        self._answer(src, msg["rid"], ok=True)

    async def _on_repair(self, src: str, msg: Message) -> None:
        repair = self._overwrite if B.READ_REPAIR_OVERWRITES in self.bugs else self._apply
        repair(msg["key"], msg["state"], msg.get("hint"))
        await self.storage.sync()

    async def _on_forward(self, src: str, msg: Message) -> None:
        try:
            res = await self.put(msg["key"], msg["value"], context=msg["context"], w=msg["w"])
        except NodeError as e:
            self._answer(src, msg["rid"], ok=False, error=e.code, definite=e.definite,
                         message=e.message)
            return
        self._answer(src, msg["rid"], ok=True, ts=res.ts, context=res.context,
                     quorum=res.quorum)

    def _on_gossip(self, src: str, msg: Message) -> None:
        self.membership.merge(msg["beats"])
        self._answer(src, msg["rid"], beats=self.membership.tick())

    # -- gossip -----------------------------------------------------------------------

    def _gossip(self) -> None:
        view = self.membership.view()
        for peer, state in view.items():
            if self._view.get(peer, "up") != state:
                log.info("peer %s is %s", peer, state)
        self._view = view
        beats = self.membership.tick()
        for peer in self.membership.gossip_targets(self.env.rng, GOSSIP_FANOUT):
            rid, call = self._call([peer], 1)
            self.env.transport.send(peer, {"t": "gossip", "rid": rid, "beats": beats})
            call.done.add_done_callback(lambda _, call=call: self._gossip_answer(call))

    def _gossip_answer(self, call: _Call) -> None:
        for answer in call.answers.values():
            self.membership.merge(answer["beats"])

    # -- hinted handoff ---------------------------------------------------------------

    def _handoff(self) -> None:
        sent = 0
        for (owner, key), state in self.storage.scan(HINTS):
            if sent >= HANDOFF_BATCH:
                break
            if (owner, key) in self._handoffs or not self._up(owner):
                continue
            self._handoffs.add((owner, key))
            sent += 1
            self._spawn(self._hand_off(owner, key, state))

    async def _hand_off(self, owner: str, key: str, state: v.State) -> None:
        rid, call = self._call([owner], 1)
        try:
            self.env.transport.send(owner, {"t": "put", "rid": rid, "key": key, "state": state,
                                            "hint": None})
            if B.HANDOFF_DROPS_HINTS not in self.bugs:
                await call.quorum
                if owner not in call.answers:
                    return
            if self.storage.get(HINTS, (owner, key)) == state:
                self.storage.delete(HINTS, (owner, key))
                owners = self.hint_owners.get(key, set())
                owners.discard(owner)
                if not owners:
                    self.hint_owners.pop(key, None)
                await self.storage.sync()
        finally:
            self._handoffs.discard((owner, key))

    # -- anti-entropy -----------------------------------------------------------------

    def _anti_entropy(self) -> None:
        """Exchange trees for the next owned range (round robin) with a random other owner."""
        if not self.owned:
            return
        self._ae_next = (self._ae_next + 1) % len(self.owned)
        rng = self.owned[self._ae_next]
        peers = self._ae_peers(rng)
        if peers:
            self._exchange(rng, self.env.rng.choice(peers))

    def repair(self) -> int:
        """Start an anti-entropy exchange of every owned range with every other owner that is
        up, now (what ``POST /admin/anti-entropy`` does, as an operator's ``nodetool repair``
        would); returns how many exchanges started."""
        started = 0
        for rng in self.owned:
            for peer in self._ae_peers(rng):
                self._exchange(rng, peer)
                started += 1
        return started

    def _ae_peers(self, rng: int) -> list[str]:
        return [p for p in self.ring.range_nodes(rng)[:self.n] if p != self.name and self._up(p)]

    def _exchange(self, rng: int, peer: str) -> None:
        self.env.transport.send(peer, {"t": "ae", "range": rng, "level": 0,
                                       "hashes": {0: self.leaves.tree(rng).root}})

    def _on_ae(self, src: str, msg: Message) -> None:
        rng, level = msg["range"], msg["level"]
        if rng not in self.owned:
            return
        tree = self.leaves.tree(rng)
        differ = tree.mismatches(level, msg["hashes"])
        if not differ:
            return
        if level == DEPTH:
            self._send_buckets(src, rng, differ, reply=True)
        else:
            self.env.transport.send(src, {"t": "ae", "range": rng, "level": level + 1,
                                          "hashes": tree.children(level, differ)})

    async def _on_ae_data(self, src: str, msg: Message) -> None:
        rng = msg["range"]
        if rng not in self.owned:
            return
        for key, state in msg["states"].items():
            if self.ring.range_of(key) == rng:
                if B.ANTI_ENTROPY_OVERWRITES in self.bugs:
                    self._overwrite(key, state)
                else:
                    self._apply(key, state)
        if msg["reply"]:
            self._send_buckets(src, rng, msg["buckets"], reply=False)
        await self.storage.sync()

    def _send_buckets(self, dest: str, rng: int, buckets: list[int], *, reply: bool) -> None:
        wanted = set(buckets)
        states = {key: self.storage.get(KV, key) for key in self.range_keys.get(rng, ())
                  if key_bucket(key) in wanted}
        self.env.transport.send(dest, {"t": "ae_data", "range": rng, "buckets": buckets,
                                       "states": states, "reply": reply})

    _handlers = {"get": _on_get, "put": _on_put, "repair": _on_repair, "fwd": _on_forward,
                 "gossip": _on_gossip, "ae": _on_ae, "ae_data": _on_ae_data}
