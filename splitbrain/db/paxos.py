"""Multi-Paxos with leased leaders: the replication of one ``dynamodb`` partition.

:class:`Replica` is the protocol of one member of a replication group, without I/O (h11 style):
``handle(src, msg, now)``, ``tick(now)``, ``submit(op, now)`` and ``flush(now)`` each return an
:class:`Output`: storage writes (acceptor state that must be durable before any message
leaves, and lazy ones), messages to send, and results of client operations that were applied.
:class:`PaxosHost` is the thin asyncio shell that runs the replicas a node hosts over an
:class:`~splitbrain.db.env.Env`; the tests drive :class:`Replica` directly from a
simulated-time scheduler.

The protocol (names follow Lamport's "Paxos Made Simple" and the DynamoDB paper, ATC 2022):

- Ballots are ``(round, node name)``, ordered as tuples. A would-be leader runs phase 1 once
  for every slot above its commit index (``p1a``/``p1b``); acceptors answer with what they
  accepted there, or with what they know chosen. The leader re-proposes the highest-ballot
  value of every such slot (a no-op where none was accepted), then proposes client batches in
  fresh slots: phase 2 (``p2a``/``p2b``) per slot, several slots in flight at once.
- An acceptor's promise and accepted entries are durable before it answers (the shell syncs
  storage before sending). A slot is chosen when a majority accepted it in one ballot; replicas
  learn that from the leader's commit index when their own entry carries the leader's ballot,
  and otherwise fetch chosen entries (or a snapshot, once the log is truncated) by ``catchup``.
  Entries are applied strictly in log order.
- Leases: the leader heartbeats every ``heartbeat`` seconds (``hb``, stamped with its monotonic
  time ``at``). An acceptor receiving it grants a lease: for ``lease`` seconds of its own
  clock it promises no other node's ballot. Once a majority acked the heartbeat stamped ``t`` the
  leader holds the lease until ``t + lease * (1 - drift)``. Any majority that promises a new
  leader intersects the old lease's majority, so the new leader completes phase 1 only after
  the old lease must have expired. A restarted replica that had state promises nothing for a
  lease length (it forgot which lease it granted). A leader nacked by a higher promise steps
  down; if it still held its lease it at once tries phase 1 with a higher ballot (which only
  acceptors not leasing to another node grant), otherwise it follows like any replica that
  lost touch. The leader serves writes and strong reads
  only while it holds the lease and has committed every slot found in phase 1.
- Failure detection: a follower that heard no heartbeat for a lease length (plus jitter) first
  asks its peers (``probe``) whether they also hold no live lease; only when a majority agrees
  does it start phase 1, so a partitioned replica does not inflate ballots or depose a healthy
  leader when it comes back.
- Coalesced heartbeats (as multi-Raft systems such as CockroachDB and TiKV coalesce theirs): a
  leader's heartbeats after its first fall on the grid of multiples of ``heartbeat`` on its
  node's clock, so all the groups a node leads beat at the same instants, and the shell sends
  what one step of a node addresses to one peer as one message (a ``batch``), which the peer
  handles in order and answers as one step. A node pair then exchanges one heartbeat message
  and one ack per period however many groups they share. Nothing else changes: each group's
  heartbeat keeps its own ballot and stamp, and a lease still counts from the stamp.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from splitbrain.db import bugs as B

log = logging.getLogger("splitbrain.paxos")

Ballot = tuple[int, str]
ZERO: Ballot = (0, "")

MSG_TYPES = frozenset({"p1a", "p1b", "p2a", "p2b", "hb", "hb_ack", "nack", "probe", "probe_ack",
                       "catchup", "entries"})
#: The message that carries several of the above to one node: ``{"t": "batch", "m": [...]}``.
BATCH = "batch"


def as_ballot(raw: Any) -> Ballot:
    """A ballot from the wire (msgpack turns tuples into lists)."""
    return (int(raw[0]), str(raw[1]))


class StateMachine(Protocol):
    """What the log is applied to. ``apply`` must be deterministic: every replica applies the
    same ops in the same order and must reach the same state and results."""

    def apply(self, op: dict) -> dict: ...

    def snapshot(self) -> Any: ...

    def restore(self, data: Any) -> None: ...


@dataclass
class Output:
    """What one step of a :class:`Replica` asks the world to do, in this order: write
    ``persist`` and ``lazy`` to storage (``(table, key, value)``, value ``None`` deletes), make
    ``persist`` (acceptor state: promises and accepted entries) durable, then send ``send``
    (``(dest, msg)``). ``lazy`` writes (what is known chosen, snapshots) may become durable
    with a later sync: losing them in a crash only means learning them again. ``results``
    (``(op id, result)``) may be delivered at once."""

    persist: list[tuple[str, Any, Any]] = field(default_factory=list)
    lazy: list[tuple[str, Any, Any]] = field(default_factory=list)
    send: list[tuple[str, dict]] = field(default_factory=list)
    results: list[tuple[str, dict]] = field(default_factory=list)

    def extend(self, other: "Output") -> None:
        self.persist += other.persist
        self.lazy += other.lazy
        self.send += other.send
        self.results += other.results


@dataclass
class Timing:
    """Protocol timing in seconds. ``drift`` is the assumed bound on the relative rate error
    of two monotonic clocks; a leader counts its lease as ``lease * (1 - drift)``."""

    lease: float = 2.0
    heartbeat: float = 0.2
    drift: float = 0.1
    max_batch: int = 512
    max_inflight: int = 4
    snapshot_every: int = 1000

    @classmethod
    def from_config(cls, config: Any) -> "Timing":
        return cls(lease=config.lease_ms / 1000, heartbeat=config.heartbeat_ms / 1000)


FOLLOWER, CANDIDATE, LEADER = "follower", "candidate", "leader"
NOT_LEADER = {"error": "unavailable", "definite": True}
LEADERSHIP_LOST = {"error": "timeout", "definite": False}


def meta_table(g: int) -> str:
    return f"px{g}"


def log_table(g: int) -> str:
    return f"pl{g}"


class Replica:
    """One member of replication group ``g`` (members ``peers``, which include ``me``).

    Durable state (tables ``px{g}`` and ``pl{g}``): the promised ballot, the last round this
    replica ran phase 1 in, the accepted entries
    ``slot -> [round, node, value]`` above the snapshot, the commit index, the snapshot
    ``[index, state machine snapshot]``. A value is a list of ops (a batch) or ``None`` (no-op).
    For slots at or below the commit index the stored value is the chosen one.
    """

    def __init__(self, g: int, me: str, peers: list[str], sm: StateMachine, timing: Timing,
                 rng: random.Random, now: float, *, records: dict[str, dict] | None = None,
                 bugs: frozenset[str] = frozenset()):
        self.g, self.me, self.peers = g, me, list(peers)
        self.bugs = bugs  # planted bugs (splitbrain.db.bugs); empty in a correct node
        self.others = [p for p in self.peers if p != me]
        self.quorum = len(self.peers) // 2 + 1
        self.rank = self.peers.index(me)
        self.sm, self.timing, self.rng = sm, timing, rng
        self.mt, self.lt = meta_table(g), log_table(g)
        # durable
        self.promised: Ballot = ZERO
        self.log: dict[int, list] = {}
        self.commit = 0
        self.snap_index = 0
        # volatile
        self.role = FOLLOWER
        self.ballot: Ballot = ZERO
        self.max_round = 0
        self.leader: str | None = None
        self.leader_ballot: Ballot = ZERO
        self.leader_commit = 0
        self.grant_until = -1.0
        self.grant_ballot: Ballot = ZERO
        self.quiet_until = -1.0
        self.promised_at = -1.0
        self.last_heard = now
        self.election_at = now
        self.probe_acks: set[str] = set()
        self.probe_until = -1.0
        self.catchup_at = -1.0
        self.peer_commit: dict[str, int] = {}
        self._reset_leader_state()
        recovered = self._recover(records or {})
        if recovered:
            self.quiet_until = now + timing.lease
        self._schedule_election(now, first=not recovered)

    # -- recovery --------------------------------------------------------------------

    def _recover(self, records: dict[str, dict]) -> bool:
        meta = records.get(self.mt, {})
        entries = records.get(self.lt, {})
        if not meta and not entries:
            return False
        if "promised" in meta:
            self.promised = as_ballot(meta["promised"])
        self.max_round = max(self.promised[0], int(meta.get("round", 0)))
        if "snap" in meta:
            self.snap_index, data = meta["snap"]
            self.sm.restore(data)
        self.log = {int(s): list(e) for s, e in entries.items() if int(s) > self.snap_index}
        self.commit = self.snap_index
        target = max(meta.get("commit", 0), self.snap_index)
        while self.commit < target and self.commit + 1 in self.log:
            self.commit += 1
            self._apply_value(self.log[self.commit][2], Output())
        return True

    # -- queries ---------------------------------------------------------------------

    def serving(self, now: float) -> bool:
        """True while this replica may serve writes and strong reads: it leads, holds the
        lease, and has committed every slot it found in phase 1."""
        leased = now < self.lease_until or B.READ_WITHOUT_LEASE in self.bugs
        caught_up = self.commit >= self.ready_slot or B.SERVE_BEFORE_CATCH_UP in self.bugs
        return self.role == LEADER and leased and caught_up

    def lease_left(self, now: float) -> float | None:
        if self.role != LEADER or now >= self.lease_until:
            return None
        return self.lease_until - now

    # -- client operations -----------------------------------------------------------

    def submit(self, op: dict, now: float) -> Output:
        """Queue ``op`` (a dict with a unique ``id``) for the next batch. Refused (definite
        ``unavailable`` result) unless :meth:`serving`. Call :meth:`flush` to propose."""
        out = Output()
        if not self.serving(now):
            out.results.append((op["id"], NOT_LEADER))
        else:
            self.pending.append(op)
        return out

    def flush(self, now: float) -> Output:
        """Propose queued ops, up to ``max_inflight`` slots in flight."""
        out = Output()
        if self.role != LEADER:
            return out
        while self.pending and len(self.inflight) < self.timing.max_inflight:
            batch = self.pending[:self.timing.max_batch]
            del self.pending[:self.timing.max_batch]
            self._propose(self.next_slot, batch, out)
            self.next_slot += 1
        return out

    # -- messages --------------------------------------------------------------------

    def handle(self, src: str, msg: dict, now: float) -> Output:
        out = Output()
        getattr(self, "_on_" + msg["t"])(src, msg, now, out)
        return out

    def _send_all(self, msg: dict, out: Output) -> None:
        for p in self.peers:
            out.send.append((p, msg))

    def _msg(self, t: str, **fields: Any) -> dict:
        return {"t": t, "g": self.g, **fields}

    def _promise(self, b: Ballot, out: Output) -> None:
        if b > self.promised:
            self.promised = b
            self.max_round = max(self.max_round, b[0])
            out.persist.append((self.mt, "promised", list(b)))
        if self.role != FOLLOWER and b > self.ballot:
            self._step_down(out)

    def _nack(self, src: str, out: Output) -> None:
        out.send.append((src, self._msg("nack", promised=list(self.promised))))

    def _on_nack(self, src: str, msg: dict, now: float, out: Output) -> None:
        promised = as_ballot(msg["promised"])
        self.max_round = max(self.max_round, promised[0])
        if self.role != FOLLOWER and promised > self.ballot:
            leased = self.role == LEADER and now < self.lease_until
            self._step_down(out)
            self.last_heard = now
            self._schedule_election(now)
            if leased:
                # An acceptor promised a higher ballot while we still hold the lease, so no
                # leader took over (that needed our lease to run out): a candidate that may
                # have failed. Try a higher ballot at once: acceptors still granting our lease
                # promise us. A leader whose lease ran out may have been cut off while another
                # took over: it follows, and probes like any follower before an election.
                self._start_phase1(now, out)

    def _on_p1a(self, src: str, msg: dict, now: float, out: Output) -> None:
        b = as_ballot(msg["b"])
        leased_to_other = (now < self.grant_until and b[1] != self.grant_ballot[1]
                           and B.NO_LEASE_WAIT not in self.bugs)
        if b < self.promised or leased_to_other or now < self.quiet_until:
            self._nack(src, out)
            return
        self._promise(b, out)
        self.promised_at = now
        start = int(msg["from"])
        chosen = [[s, self.log[s][2]] for s in range(max(start, self.snap_index + 1),
                                                      self.commit + 1)]
        accepted = [[s, e[0], e[1], e[2]] for s, e in self.log.items()
                    if s > self.commit and s >= start]
        out.send.append((src, self._msg("p1b", b=list(b), chosen=chosen, accepted=accepted,
                                         snap=self.snap_index)))

    def _on_p1b(self, src: str, msg: dict, now: float, out: Output) -> None:
        if self.role != CANDIDATE or as_ballot(msg["b"]) != self.ballot:
            return
        self.p1_replies[src] = msg
        if len(self.p1_replies) < self.quorum:
            return
        behind = [p for p, r in self.p1_replies.items() if r["snap"] > self.commit]
        if behind:
            # Slots we never saw were truncated into a snapshot: fetch it, then try again.
            out.send.append((behind[0], self._msg("catchup", **{"from": self.commit + 1})))
            self.role = FOLLOWER
            self.last_heard = now
            self._schedule_election(now)
            return
        chosen: dict[int, Any] = {}
        best: dict[int, tuple[Ballot, Any]] = {}
        for r in self.p1_replies.values():
            for s, v in r["chosen"]:
                chosen[int(s)] = v
            for s, rnd, node, v in r["accepted"]:
                b = (int(rnd), str(node))
                if int(s) not in best or b > best[int(s)][0]:
                    best[int(s)] = (b, v)
        top = max([self.commit, *chosen, *best])
        if B.ACCEPT_WITHOUT_PREPARE in self.bugs:
            top, chosen, best = self.commit, {}, {}
        self.role = LEADER
        self.leader, self.leader_ballot = self.me, self.ballot
        self._reset_leader_state()
        self.next_slot = top + 1
        self.ready_slot = top
        for s in range(self.commit + 1, top + 1):
            value = chosen[s] if s in chosen else best[s][1] if s in best else None
            self._propose(s, value, out)
        log.info("group %d: %s leads with ballot %s from slot %d", self.g, self.me,
                 self.ballot, self.commit + 1)
        self._heartbeat(now, out)

    def _propose(self, slot: int, value: Any, out: Output) -> None:
        self.inflight[slot] = value
        self.acks[slot] = set()
        self._send_all(self._msg("p2a", b=list(self.ballot), s=slot, v=value,
                                 c=self.commit), out)

    def _from_leader(self, src: str, msg: dict, now: float, out: Output) -> Ballot | None:
        """The ballot of a leader's p2a or heartbeat, promised and noted as the leader's;
        None (after a nack) if we promised a higher one."""
        b = as_ballot(msg["b"])
        if b < self.promised:
            self._nack(src, out)
            return None
        self._promise(b, out)
        self._hear_leader(src, b, now)
        return b

    def _on_p2a(self, src: str, msg: dict, now: float, out: Output) -> None:
        b = self._from_leader(src, msg, now, out)
        if b is None:
            return
        s = int(msg["s"])
        # At or below our commit index the slot is chosen, and acking without storing is safe:
        # a p2a of the choosing ballot or a later one carries the chosen value (phase 1 finds it),
        # and one below it never gathers a majority of p2b's: every majority holds a member of
        # the choosing one, which promised that ballot and nacks it.
        if s > self.commit:
            entry = [b[0], b[1], msg["v"]]
            self.log[s] = entry
            out.persist.append((self.lt, s, entry))
            if B.APPLY_BEFORE_COMMIT in self.bugs and self.role == FOLLOWER:
                self.chosen_above.add(s)
                self._advance(out)
        out.send.append((src, self._msg("p2b", b=list(b), s=s)))
        self._learn_commit(src, b, int(msg["c"]), now, out)

    def _on_p2b(self, src: str, msg: dict, now: float, out: Output) -> None:
        if self.role != LEADER or as_ballot(msg["b"]) != self.ballot:
            return
        s = int(msg["s"])
        acks = self.acks.get(s)
        if acks is None:
            return
        acks.add(src)
        if len(acks) >= self.quorum:
            del self.acks[s]
            value = self.inflight.pop(s)
            e = self.log.get(s)
            if e is None or (e[0], e[1]) != self.ballot:
                # Our own acceptor has not seen the p2a yet: it may hold nothing here, or an
                # older ballot's unchosen entry (when it was left out of our phase-1 quorum).
                # A majority accepted `value`, so it is chosen: store it over whatever is there.
                entry = [self.ballot[0], self.ballot[1], value]
                self.log[s] = entry
                out.lazy.append((self.lt, s, entry))
            self.chosen_above.add(s)
            self._advance(out)
            out.extend(self.flush(now))

    def _hear_leader(self, src: str, b: Ballot, now: float) -> None:
        if b >= self.leader_ballot:
            self.leader, self.leader_ballot = src, b
            self.last_heard = now
            if self.role == FOLLOWER:
                self._schedule_election(now)

    def _heartbeat(self, now: float, out: Output) -> None:
        # The next one on this node's grid of heartbeat periods, at least half a period away:
        # every group the node leads then beats at the same ticks (coalesced heartbeats).
        period = self.timing.heartbeat
        self.next_hb = math.ceil((now + period / 2) / period) * period
        cutoff = now - self.timing.lease
        self.hb_acks = {t: a for t, a in self.hb_acks.items() if t > cutoff}
        self.hb_acks[now] = set()
        self._send_all(self._msg("hb", b=list(self.ballot), at=now, c=self.commit,
                                 pc=self.peer_commit), out)
        # Unchosen slots may have lost their messages: send them again.
        for s, value in self.inflight.items():
            if now - self.proposed_at.setdefault(s, now) >= self.timing.heartbeat:
                for p in self.peers:
                    if p not in self.acks.get(s, ()):
                        out.send.append((p, self._msg("p2a", b=list(self.ballot), s=s, v=value,
                                                      c=self.commit)))

    def _on_hb(self, src: str, msg: dict, now: float, out: Output) -> None:
        b = self._from_leader(src, msg, now, out)
        if b is None:
            return
        self.grant_until, self.grant_ballot = now + self.timing.lease, b
        if src != self.me:  # the leader's view of every replica's commit index, for status
            self.peer_commit = {**msg.get("pc", {}), src: int(msg["c"])}
        out.send.append((src, self._msg("hb_ack", b=list(b), at=msg["at"], c=self.commit)))
        self._learn_commit(src, b, int(msg["c"]), now, out)

    def _on_hb_ack(self, src: str, msg: dict, now: float, out: Output) -> None:
        self.peer_commit[src] = int(msg["c"])
        if self.role != LEADER or as_ballot(msg["b"]) != self.ballot:
            return
        t = msg["at"]
        acks = self.hb_acks.get(t)
        if acks is None:
            return
        acks.add(src)
        if len(acks) >= self.quorum:
            start = now if B.LEASE_FROM_ACK_ARRIVAL in self.bugs else t
            self.lease_until = max(self.lease_until,
                                   start + self.timing.lease * (1 - self.timing.drift))

    def _learn_commit(self, src: str, b: Ballot, commit: int, now: float, out: Output) -> None:
        """The leader of ballot ``b`` says slots up to ``commit`` are chosen. Our entry for a
        slot is the chosen value if it carries ``b`` (a leader proposes one value per slot)."""
        self.leader_commit = max(self.leader_commit, commit)
        while self.commit < commit:
            e = self.log.get(self.commit + 1)
            if e is None or (e[0], e[1]) != b:
                break
            self.chosen_above.add(self.commit + 1)
            self._advance(out)
        if self.commit < commit and now >= self.catchup_at:
            self.catchup_at = now + self.timing.heartbeat
            out.send.append((src, self._msg("catchup", **{"from": self.commit + 1})))

    def _advance(self, out: Output) -> None:
        """Apply every chosen slot that directly follows the commit index."""
        first = self.commit
        while self.commit + 1 in self.chosen_above:
            self.commit += 1
            self.chosen_above.discard(self.commit)
            self._apply_value(self.log[self.commit][2], out)
        if self.commit > first:
            out.lazy.append((self.mt, "commit", self.commit))
            self._maybe_snapshot(out)

    def _apply_value(self, value: Any, out: Output) -> None:
        for op in value or ():
            out.results.append((op["id"], self.sm.apply(op)))

    def _maybe_snapshot(self, out: Output) -> None:
        if self.commit - self.snap_index < self.timing.snapshot_every:
            return
        old = self.snap_index
        self.snap_index = self.commit
        out.lazy.append((self.mt, "snap", [self.snap_index, self.sm.snapshot()]))
        for s in range(old + 1, self.snap_index + 1):
            if self.log.pop(s, None) is not None:
                out.lazy.append((self.lt, s, None))

    def _on_catchup(self, src: str, msg: dict, now: float, out: Output) -> None:
        start = int(msg["from"])
        if start > self.commit:
            return
        if start <= self.snap_index:
            # The log there is truncated: send the applied state, which is at the commit index.
            out.send.append((src, self._msg("entries", snap=[self.commit, self.sm.snapshot()],
                                            entries=[])))
            return
        end = min(self.commit, start + self.timing.max_batch)
        entries = [[s, self.log[s][2]] for s in range(start, end + 1)]
        out.send.append((src, self._msg("entries", snap=None, entries=entries)))

    def _on_entries(self, src: str, msg: dict, now: float, out: Output) -> None:
        """Chosen entries (and maybe a snapshot) from a peer's committed prefix."""
        snap = msg.get("snap")
        if snap is not None and int(snap[0]) > self.commit:
            index, data = int(snap[0]), snap[1]
            self.sm.restore(data)
            for s in [s for s in self.log if s <= index]:
                del self.log[s]
                out.lazy.append((self.lt, s, None))
            self.snap_index = self.commit = index
            self.chosen_above = {s for s in self.chosen_above if s > index}
            out.lazy.append((self.mt, "snap", [index, data]))
            out.lazy.append((self.mt, "commit", index))
        for s, v in msg["entries"]:
            s = int(s)
            if s != self.commit + 1:
                continue
            entry = [self.promised[0], self.promised[1], v]
            self.log[s] = entry
            out.lazy.append((self.lt, s, entry))
            self.chosen_above.add(s)
            self._advance(out)
        if self.commit < self.leader_commit:
            out.send.append((src, self._msg("catchup", **{"from": self.commit + 1})))

    def _on_probe(self, src: str, msg: dict, now: float, out: Output) -> None:
        # Support an election only if no leader holds our lease, we are not running one,
        # and no other candidate got our promise moments ago.
        granting = now < self.grant_until and B.NO_LEASE_WAIT not in self.bugs
        free = (not granting and now >= self.quiet_until and self.role == FOLLOWER
                and now >= self.promised_at + 2 * self.timing.heartbeat)
        out.send.append((src, self._msg("probe_ack", ok=free, promised=list(self.promised))))

    def _on_probe_ack(self, src: str, msg: dict, now: float, out: Output) -> None:
        self.max_round = max(self.max_round, as_ballot(msg["promised"])[0])
        if self.role != FOLLOWER or now >= self.probe_until or not msg["ok"]:
            return
        self.probe_acks.add(src)
        if len(self.probe_acks) >= self.quorum:
            self.probe_until = -1.0
            self._start_phase1(now, out)

    # -- elections and timers --------------------------------------------------------

    def _schedule_election(self, now: float, *, first: bool = False,
                           retry: bool = False) -> None:
        """The next time to probe for an election: a lease after the leader was last heard
        (at once on a fresh start, soon when a probe failed), the group's first member
        earliest, with jitter so that members rarely compete."""
        t = self.timing
        base = 0.0 if first else 2 * t.heartbeat if retry else t.lease
        self.election_at = (now + base + self.rank * 2 * t.heartbeat
                            + self.rng.uniform(0, t.heartbeat))

    def _start_phase1(self, now: float, out: Output) -> None:
        self.role = CANDIDATE
        # A fresh round, durable before the p1a's leave: restarted, this replica never runs
        # phase 1 again in a ballot it may have led in (its own promise of it may be lost).
        self.max_round = max(self.max_round, self.promised[0]) + 1
        self.ballot = (self.max_round, self.me)
        out.persist.append((self.mt, "round", self.max_round))
        self.p1_replies = {}
        self.p1_until = now + 2 * self.timing.heartbeat + self.timing.lease / 4
        self._send_all(self._msg("p1a", b=list(self.ballot), **{"from": self.commit + 1}), out)

    def _reset_leader_state(self) -> None:
        self.pending: list[dict] = []
        self.inflight: dict[int, Any] = {}
        self.acks: dict[int, set[str]] = {}
        self.proposed_at: dict[int, float] = {}
        self.chosen_above: set[int] = set()
        self.hb_acks: dict[float, set[str]] = {}
        self.lease_until = -1.0
        self.next_hb = -1.0
        self.next_slot = self.commit + 1
        self.ready_slot = 0
        self.p1_replies: dict[str, dict] = {}
        self.p1_until = -1.0

    def _step_down(self, out: Output) -> None:
        if self.role == LEADER:
            log.info("group %d: %s steps down (ballot %s)", self.g, self.me, self.ballot)
        for op in self.pending:
            out.results.append((op["id"], NOT_LEADER))
        lost = NOT_LEADER if B.INDEFINITE_AS_DEFINITE in self.bugs else LEADERSHIP_LOST
        for value in self.inflight.values():
            for op in value or ():
                out.results.append((op["id"], lost))
        self.role = FOLLOWER
        if self.leader == self.me:
            self.leader = None
        # Keep learnt-chosen slots; drop leader bookkeeping.
        chosen = {s for s in self.chosen_above if s in self.log}
        self._reset_leader_state()
        self.chosen_above = chosen

    def deadline(self) -> float:
        """The earliest time at which :meth:`tick` may act: before it, a tick changes nothing.
        A shell may sleep until then, but must call :meth:`deadline` again after every
        :meth:`handle`, which may move it earlier."""
        if self.role == LEADER:
            if self.pending and len(self.inflight) < self.timing.max_inflight:
                return -1.0  # tick flushes them (the shell normally did already)
            return self.next_hb
        if self.role == CANDIDATE:
            return self.p1_until
        return max(self.election_at, self.grant_until, self.quiet_until)

    def tick(self, now: float) -> Output:
        out = Output()
        if self.role == LEADER:
            if now >= self.next_hb:
                self._heartbeat(now, out)
            out.extend(self.flush(now))
        elif self.role == CANDIDATE:
            if now >= self.p1_until:
                self.role = FOLLOWER
                self._schedule_election(now)
        elif now >= self.election_at and now >= self.grant_until and now >= self.quiet_until:
            self.probe_acks = {self.me}
            self.probe_until = now + 2 * self.timing.heartbeat
            self._schedule_election(now, retry=True)
            for p in self.others:
                out.send.append((p, self._msg("probe")))
            if len(self.probe_acks) >= self.quorum:
                self._start_phase1(now, out)
        return out

    def status(self, now: float) -> dict[str, Any]:
        return {"leader": self.leader,
                "role": self.role,
                "ballot": list(self.leader_ballot),
                "lease_expires_in": self.lease_left(now),
                "commit_index": {**self.peer_commit, self.me: self.commit}}


# ---------------------------------------------------------------------------------------------
# The asyncio shell


#: The shortest wait between two ticks (node-clock seconds): a deadline a hair ahead of a
#: slowly drifting clock is not chased in ever smaller steps.
MIN_WAIT = 0.001


def expire_with_none(fut: asyncio.Future) -> None:
    """Resolve ``fut`` with None (timed out); cheaper than asyncio.wait_for's extra task."""
    if not fut.done():
        fut.set_result(None)


class PaxosHost:
    """Runs the replicas one node hosts (``groups``: group id -> members) over ``env``.

    It loads each replica from storage, feeds it messages (``deliver``) and timer ticks, writes
    its ``persist`` records and syncs storage before sending anything that depends on them
    (one sync covers every write made before it, and every message then waiting: group
    commit), delivers messages to itself
    directly, and turns op results into the futures :meth:`submit` returns. What one step (a
    tick of the replicas that are due, the handling of one message or batch, a sync) sends to
    one node goes as one message: the message itself, or a :data:`BATCH` of them in order.

    Ticks: one timer per node ticks each replica whose :meth:`Replica.deadline` has come, and
    waits for the earliest deadline, converted to event-loop time at the clock's current
    ``rate``, but at most a quarter lease (or a heartbeat, if longer). So a clock whose rate
    changes while the timer waits, or that drifts from the loop's, makes a timer late by at
    most that wait times the rate error: 30 ms for the clock-rate nemesis's 4 % and a
    simulated world's 2 % drift on a 2 s lease, less than a heartbeat. A message that moves a
    replica's deadline earlier re-arms the timer. With the planted wall-clock-lease bug the
    timer waits at most 50 ms, as before: a wall clock jumps, which no rate foresees. Lazy
    writes are synced at the next tick (they may be lost in a crash: :class:`Output`).
    """

    def __init__(self, env: Any, groups: dict[int, list[str]],
                 make_sm: Callable[[int], StateMachine], timing: Timing):
        self.env = env
        self.timing = timing
        self.groups = groups
        self.make_sm = make_sm
        self.replicas: dict[int, Replica] = {}
        self.waiting: dict[str, asyncio.Future] = {}
        self._written = 0
        self._synced = 0
        self._ticker: asyncio.Handle | None = None
        self._tick_at = 0.0  # the node-clock time the ticker is armed for
        self._syncer: asyncio.Task | None = None
        self._outbox: list[tuple[int, list[tuple[str, dict]]]] = []
        self._held: list[tuple[str, dict]] | None = None  # sends held for one step
        self._flush_soon: set[int] = set()
        self._lazy = False
        self.bugs = B.planted(env.config)
        self._max_wait = max(timing.lease / 4, timing.heartbeat, MIN_WAIT)
        if B.LEASE_ON_WALL_CLOCK in self.bugs:
            # Timers read the wall clock, which the clock nemesis makes jump: poll as often as
            # the shell did before it slept until deadlines, so the bug shows as it did.
            self._max_wait = max(min(timing.heartbeat / 4, 0.05), MIN_WAIT)
        #: The clock every replica's timers and leases read: monotonic (the wall clock with
        #: the planted wall-clock-lease bug).
        self.now: Callable[[], float] = env.clock.monotonic
        if B.LEASE_ON_WALL_CLOCK in self.bugs:
            self.now = env.clock.wall
        self._loop: asyncio.AbstractEventLoop | None = None  # the running loop, once started

    async def start(self) -> None:
        self._loop = loop = asyncio.get_running_loop()
        storage = self.env.storage
        now = self.now()
        for g, members in self.groups.items():
            records = {t: dict(storage.scan(t)) for t in (meta_table(g), log_table(g))}
            self.replicas[g] = Replica(g, self.env.name, members, self.make_sm(g), self.timing,
                                       self.env.rng, now, records=records, bugs=self.bugs)
        self._tick_at = now
        self._ticker = loop.call_soon(self._tick)

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        tasks = [t for t in (self._syncer,) if t is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for fut in self.waiting.values():
            if not fut.done():
                fut.set_result(LEADERSHIP_LOST)

    def _tick(self) -> None:
        self._ticker = None
        now = self.now()
        held = self._hold()
        try:
            for r in self.replicas.values():
                if r.deadline() <= now:
                    self._execute(r.tick(now))
        finally:
            self._release(held)
        if self._lazy and (self._syncer is None or self._syncer.done()):
            self._lazy = False
            self._syncer = asyncio.ensure_future(self._sync_loop())
        self._arm(min(r.deadline() for r in self.replicas.values()), now)

    def _arm(self, due: float, now: float) -> None:
        """Run :meth:`_tick` when this node's clock reads ``due`` (``now`` is what it reads
        now), or within ``_max_wait``; earlier than an already armed tick only."""
        wait = min(max(due - now, MIN_WAIT), self._max_wait)
        if self._ticker is not None:
            if now + wait >= self._tick_at:
                return
            self._ticker.cancel()
        self._tick_at = now + wait
        self._ticker = self._loop.call_later(wait / self.env.clock.rate,  # type: ignore
                                             self._tick)

    def deliver(self, src: str, msg: dict) -> None:
        """Handle a message from ``src``: one of :data:`MSG_TYPES`, or a :data:`BATCH` of
        them, handled in order and answered as one step (anything else is ignored)."""
        if msg.get("t") != BATCH:
            self._deliver(src, msg)
            return
        msgs = msg.get("m")
        if not isinstance(msgs, list):
            return
        held = self._hold()
        try:
            for m in msgs:
                if isinstance(m, dict):
                    self._deliver(src, m)
        finally:
            self._release(held)

    def _deliver(self, src: str, msg: dict) -> None:
        r = self.replicas.get(msg.get("g"))
        if r is None or msg.get("t") not in MSG_TYPES:
            return
        now = self.now()
        self._execute(r.handle(src, msg, now))
        due = r.deadline()
        if due < self._tick_at and self._ticker is not None:
            self._arm(due, now)

    async def submit(self, g: int, op: dict, timeout: float) -> dict | None:
        """Propose ``op`` in group ``g`` and wait up to ``timeout`` seconds for its result (a
        dict; errors carry ``error`` and ``definite``); None when the time ran out. An op whose
        id is already waiting here (a duplicated request) is not proposed again: it shares
        that wait and its result."""
        loop = asyncio.get_running_loop()  # not self._loop: callers may submit before start
        first = self.waiting.get(op["id"])
        if first is not None:
            return await asyncio.shield(first)
        fut = loop.create_future()
        self.waiting[op["id"]] = fut
        timer = loop.call_later(timeout, expire_with_none, fut)
        try:
            self._execute(self.replicas[g].submit(op, self.now()))
            if not fut.done() and g not in self._flush_soon:
                self._flush_soon.add(g)
                loop.call_soon(self._flush, g)
            return await fut
        finally:
            timer.cancel()
            self.waiting.pop(op["id"], None)

    def _flush(self, g: int) -> None:
        self._flush_soon.discard(g)
        self._execute(self.replicas[g].flush(self.now()))

    def _execute(self, out: Output) -> None:
        storage = self.env.storage
        for table, key, value in out.persist + out.lazy:
            if value is None:
                storage.delete(table, key)
            else:
                storage.put(table, key, value)
        self._written += len(out.persist)
        self._lazy = self._lazy or bool(out.lazy)
        for op_id, result in out.results:
            fut = self.waiting.get(op_id)
            if fut is not None and not fut.done():
                fut.set_result(result)
        if not out.send:
            return
        if self._synced >= self._written or B.PAXOS_ACK_BEFORE_FSYNC in self.bugs:
            if self._held is not None:
                self._held += out.send
            else:
                self._send(out.send)
            return
        # Group commit: every message waiting for durability goes out after one shared sync.
        self._outbox.append((self._written, out.send))
        if self._syncer is None or self._syncer.done():
            self._syncer = asyncio.ensure_future(self._sync_loop())

    async def _sync_loop(self) -> None:
        """Sync at least once, then as long as messages wait for a sync."""
        while True:
            target = self._written
            try:
                await self.env.storage.sync()
            except OSError as e:
                log.error("storage sync failed (%s); dropping %d outgoing batches", e,
                          len(self._outbox))
                self._outbox.clear()
                return
            self._synced = max(self._synced, target)
            ready = [m for gen, sends in self._outbox if gen <= target for m in sends]
            self._outbox = [(gen, sends) for gen, sends in self._outbox if gen > target]
            self._send(ready)
            if not self._outbox:
                return

    def _hold(self) -> list[tuple[str, dict]] | None:
        """Start holding what :meth:`_execute` sends, to send it as one step (the caller
        passes what this returns to :meth:`_release`); inside a hold, a no-op."""
        outer = self._held
        if outer is None:
            self._held = []
        return outer

    def _release(self, outer: list[tuple[str, dict]] | None) -> None:
        if outer is None:
            held, self._held = self._held or [], None
            self._send(held)

    def _send(self, sends: list[tuple[str, dict]]) -> None:
        """Send ``sends`` (in order) as one message per destination: the message itself, or
        a :data:`BATCH` of them."""
        by_dest: dict[str, list[dict]] = {}
        for dest, msg in sends:
            msgs = by_dest.get(dest)
            if msgs is None:
                by_dest[dest] = [msg]
            else:
                msgs.append(msg)
        me = self.env.name
        for dest, msgs in by_dest.items():
            msg = msgs[0] if len(msgs) == 1 else {"t": BATCH, "m": msgs}
            if dest == me:
                self._loop.call_soon(self.deliver, me, msg)  # type: ignore[union-attr]
            else:
                self.env.transport.send(dest, msg)
