"""Multi-Paxos safety and liveness, driving the pure :class:`Replica` state machines from a
simulated-time scheduler (no event loop, no sockets).

The scheduler holds every message in flight, every replica's writes not yet synced (with the
messages that wait for them: those after a promise or an accept; the rest leave at once), and one
simulated clock (each replica reads it at its own rate, within the drift bound). Hypothesis
picks the schedule: which message to deliver, duplicate or drop, when to sync, tick, crash and
restart a replica, cut it off, force a competing election, submit client ops. After every step
the checker verifies, from the history of durable accepts:

- a replica sends nothing while its promise or an accepted entry is not yet durable;

- no two different values are chosen for one slot (chosen = a majority durably accepted it in
  one ballot), and no ballot carries two values for one slot (a value learnt by catch-up is
  no vote: the learner stores it under its promised ballot, which never proposed it);
- every replica's committed entries are the chosen values, and every replica applied the same
  sequence of ops (each a prefix of the longest);
- at no instant do two replicas both believe they hold the leader lease.
"""

from __future__ import annotations

import random
from collections import defaultdict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from splitbrain.db import bugs as B
from splitbrain.db.paxos import LEADER, Output, Replica, Timing, log_table, meta_table

TIMING = Timing(lease=1.0, heartbeat=0.1, drift=0.1, max_batch=3, max_inflight=3,
                snapshot_every=6)
# Without leases nothing holds an election back: proposers duel all the time. That tests the
# Paxos core alone (the test side then submits to whoever believes it leads).
NO_LEASES = Timing(lease=0.0, heartbeat=0.1, drift=0.1, max_batch=3, max_inflight=3,
                   snapshot_every=6)


class ListMachine:
    """Applies ops by appending their ids; the applied sequence is what must agree."""

    def __init__(self) -> None:
        self.ops: list[str] = []

    def apply(self, op: dict) -> dict:
        self.ops.append(op["id"])
        return {"ok": True, "n": len(self.ops)}

    def snapshot(self) -> list[str]:
        return list(self.ops)

    def restore(self, data: list[str]) -> None:
        self.ops = list(data)


class SafetyViolation(AssertionError):
    pass


class Node:
    def __init__(self, name: str, rate: float):
        self.name = name
        self.rate = rate
        self.durable: dict[str, dict] = defaultdict(dict)
        # (table, key, value, learnt): learnt writes store values chosen elsewhere (catch-up)
        self.staged: list[tuple[str, object, object, bool]] = []
        self.outbox: list[tuple[str, dict]] = []
        self.must_sync = False
        self.replica: Replica | None = None
        self.isolated = False


class Sim:
    """Three (or five) replicas of group 0 under a scheduler the caller drives step by step."""

    def __init__(self, n: int = 3, seed: int = 0, drift: bool = True, leases: bool = True,
                 bugs: frozenset[str] = frozenset()):
        self.rng = random.Random(seed)
        self.bugs = bugs  # planted bugs (splitbrain.db.bugs) every replica runs with
        self.leases = leases
        self.timing = TIMING if leases else NO_LEASES
        self.t = 0.0
        self.names = [f"r{i}" for i in range(n)]
        self.quorum = n // 2 + 1
        self.nodes = {name: Node(name, 1 + (self.rng.uniform(-0.04, 0.04) if drift else 0))
                      for name in self.names}
        self.flight: list[tuple[str, str, dict]] = []
        self.accepts: dict[tuple[int, tuple], dict[str, object]] = defaultdict(dict)
        self.chosen: dict[int, object] = {}
        self.applied: list[str] = []
        self.results: dict[str, dict] = {}
        self.op_counter = 0
        for name in self.names:
            self.start(name)

    # -- plumbing --------------------------------------------------------------------

    def now(self, name: str) -> float:
        return self.t * self.nodes[name].rate

    def start(self, name: str) -> None:
        node = self.nodes[name]
        records = {t: dict(node.durable[t]) for t in (meta_table(0), log_table(0))}
        node.replica = Replica(0, name, self.names, ListMachine(), self.timing,
                               random.Random(self.rng.random()), self.now(name),
                               records=records, bugs=self.bugs)
        self.check_node(name)

    def crash(self, name: str) -> None:
        node = self.nodes[name]
        node.staged.clear()
        node.outbox.clear()
        node.must_sync = False
        self.start(name)

    def run(self, name: str, out: Output, learnt: bool = False) -> None:
        node = self.nodes[name]
        node.staged += [(*write, learnt) for write in out.persist + out.lazy]
        # Like the shell: messages wait for a sync only while acceptor state is not durable.
        node.must_sync = node.must_sync or bool(out.persist)
        if node.must_sync:
            node.outbox += out.send
        else:
            if out.send:
                self.check_acceptor_durable(name)
            self.flight += [(name, dest, msg) for dest, msg in out.send]
        for op_id, result in out.results:
            self.results[op_id] = result
        self.check_node(name)

    def sync(self, name: str) -> None:
        """The shell's sync-then-send: staged writes become durable, then messages leave."""
        node = self.nodes[name]
        lt = log_table(0)
        for table, key, value, learnt in node.staged:
            if value is None:
                node.durable[table].pop(key, None)
                continue
            node.durable[table][key] = value
            # A value learnt by catch-up is stored under the learner's promised ballot, which
            # never proposed it: no vote in that ballot (check_node checks it is the chosen one).
            if table == lt and not learnt:
                self.record_accept(name, key, (value[0], value[1]), value[2])
        node.staged.clear()
        node.must_sync = False
        self.flight += [(name, dest, msg) for dest, msg in node.outbox]
        node.outbox.clear()

    def deliver(self, i: int, keep: bool = False) -> None:
        if not self.flight:
            return
        i %= len(self.flight)
        src, dest, msg = self.flight[i] if keep else self.flight.pop(i)
        if self.nodes[src].isolated or self.nodes[dest].isolated:
            return
        self.handle(src, dest, msg)

    def handle(self, src: str, dest: str, msg: dict) -> None:
        """``dest`` handles ``msg`` from ``src`` now."""
        self.run(dest, self.nodes[dest].replica.handle(src, msg, self.now(dest)),
                 learnt=msg["t"] == "entries")

    def tick(self, name: str) -> None:
        """Tick ``name``; a tick before the replica's ``deadline()`` must do nothing (the
        shell sleeps until then)."""
        r, now = self.nodes[name].replica, self.now(name)
        before = (r.deadline(), r.role, r.ballot, r.commit)
        out = r.tick(now)
        if now < before[0]:
            assert out == Output() and (r.deadline(), r.role, r.ballot, r.commit) == before, (
                f"{name} acted on a tick at {now:.4f}, before its deadline {before[0]:.4f}: "
                f"{out}; a shell sleeping until deadline() would have missed it")
        self.run(name, out)

    def submit(self, name: str) -> None:
        self.op_counter += 1
        r = self.nodes[name].replica
        op = {"id": f"op{self.op_counter}"}
        if not self.leases and r.role == LEADER:
            r.pending.append(op)
            out = Output()
        else:
            out = r.submit(op, self.now(name))
        out.extend(r.flush(self.now(name)))
        self.run(name, out)

    def force_election(self, name: str) -> None:
        r = self.nodes[name].replica
        if r.role != LEADER:
            out = Output()
            r._start_phase1(self.now(name), out)
            self.run(name, out)

    # -- the checker -----------------------------------------------------------------

    def record_accept(self, name: str, slot: int, ballot: tuple, value: object) -> None:
        votes = self.accepts[(slot, ballot)]
        for other, v in votes.items():
            if other != name and v != value:
                raise SafetyViolation(f"slot {slot} ballot {ballot}: values {v!r} and {value!r}")
        votes[name] = value
        if len(votes) >= self.quorum:
            if slot in self.chosen and self.chosen[slot] != value:
                raise SafetyViolation(f"slot {slot}: {self.chosen[slot]!r} and {value!r} both "
                                      f"chosen")
            self.chosen[slot] = value

    def check_acceptor_durable(self, name: str) -> None:
        """Messages leaving now may reveal the acceptor's state: it must be durable (with
        what is staged as lazy, a crash may only lose entries already known chosen)."""
        node, r = self.nodes[name], self.nodes[name].replica
        durable = node.durable[meta_table(0)].get("promised")
        if r.promised > ((durable[0], durable[1]) if durable else (0, "")):
            raise SafetyViolation(f"{name} replies having promised {r.promised}, but only "
                                  f"{durable} is durable")
        log = node.durable[log_table(0)]
        for s, e in r.log.items():
            if s > r.commit and s not in r.chosen_above and log.get(s) != e:
                raise SafetyViolation(f"{name} replies with slot {s} accepted as {e}, but "
                                      f"{log.get(s)} is durable")

    def check_node(self, name: str) -> None:
        r = self.nodes[name].replica
        for s in range(r.snap_index + 1, r.commit + 1):
            if s not in self.chosen or r.log[s][2] != self.chosen[s]:
                raise SafetyViolation(f"{name} committed slot {s} = {r.log[s][2]!r}, but the "
                                      f"chosen value is {self.chosen.get(s, '(none)')!r}")
        ops = r.sm.ops
        common = min(len(ops), len(self.applied))
        if ops[:common] != self.applied[:common]:
            raise SafetyViolation(f"{name} applied {ops} which diverges from {self.applied}")
        if len(ops) > len(self.applied):
            self.applied = list(ops)
        holders = [n for n in self.names if self.leases and self.nodes[n].replica is not None
                   and self.nodes[n].replica.lease_left(self.now(n)) is not None]
        if len(holders) > 1:
            raise SafetyViolation(f"at t={self.t:.3f} {holders} all hold the lease")

    # -- fair execution --------------------------------------------------------------

    def settle(self, seconds: float, step: float = 0.025) -> None:
        """Run with every link up: sync, deliver everything, tick, for ``seconds``."""
        end = self.t + seconds
        while self.t < end:
            for _ in range(50):
                self.burst(self.rng)
                if not self.flight:
                    break
            self.t += step
            for name in self.names:
                self.tick(name)

    def burst(self, rng: random.Random) -> None:
        """Everyone syncs, then what is in flight is delivered in a shuffled order."""
        for name in self.names:
            self.sync(name)
        batch, self.flight = self.flight, []
        rng.shuffle(batch)
        for src, dest, msg in batch:
            if not (self.nodes[src].isolated or self.nodes[dest].isolated):
                self.handle(src, dest, msg)

    def leader(self) -> str | None:
        """A replica that serves (one that believes it leads, without leases)."""
        for name in self.names:
            r = self.nodes[name].replica
            if r.serving(self.now(name)) or (not self.leases and r.role == LEADER):
                return name
        return None


# ---------------------------------------------------------------------------------------------
# Random schedules

STEPS = (("deliver",) * 6 + ("duplicate", "drop") + ("sync",) * 4 + ("tick",) * 6
         + ("burst",) * 6 + ("submit",) * 8
         + ("jump", "crash", "isolate", "heal", "heal", "elect"))


def play(sim: Sim, schedule: list[int]) -> None:
    for x in schedule:
        kind = STEPS[x % len(STEPS)]
        arg = x // len(STEPS)
        name = sim.names[arg % len(sim.names)]
        if kind == "deliver":
            sim.deliver(arg)
        elif kind == "duplicate":
            sim.deliver(arg, keep=True)
        elif kind == "drop" and sim.flight:
            sim.flight.pop(arg % len(sim.flight))
        elif kind == "sync":
            sim.sync(name)
        elif kind in ("tick", "jump"):
            # A tick moves time by up to 5% of a lease; a jump by up to 1.5 leases, long
            # enough for leases to run out and elections to compete.
            sim.t += (arg % 50) / 1000 if kind == "tick" else (arg % 150) / 100
            for n in sim.names:
                sim.tick(n)
        elif kind == "burst":
            sim.burst(random.Random(arg))
        elif kind == "submit":
            sim.submit(sim.leader() or name)
        elif kind == "crash":
            sim.crash(name)
        elif kind == "isolate":
            sim.nodes[name].isolated = True
        elif kind == "heal":
            for node in sim.nodes.values():
                node.isolated = False
        elif kind == "elect":
            sim.force_election(name)


def check_progress(sim: Sim, cut_off: str | None = None) -> None:
    """With only a majority able to talk (``cut_off`` still isolated), a leader emerges among
    them and commits; once every replica can talk again, all replicas converge."""
    for node in sim.nodes.values():
        node.isolated = node.name == cut_off
    sim.settle(3 * TIMING.lease)
    leader = sim.leader()
    assert leader is not None and leader != cut_off, "no leader serves on the majority side"
    sim.submit(leader)
    op = f"op{sim.op_counter}"
    sim.settle(TIMING.lease)
    assert sim.results.get(op, {}).get("ok"), f"{op} was not applied: {sim.results.get(op)}"
    sim.nodes[cut_off or leader].isolated = False
    sim.settle(TIMING.lease)
    commits = {n: sim.nodes[n].replica.commit for n in sim.names}
    assert len(set(commits.values())) == 1, f"replicas did not converge: {commits}"
    logs = {n: sim.nodes[n].replica.sm.ops for n in sim.names}
    assert all(ops == sim.applied for ops in logs.values()), logs


schedules = st.lists(st.integers(min_value=0, max_value=1 << 16), min_size=20, max_size=300)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedule=schedules, seed=st.integers(0, 1 << 30))
def test_random_schedules_never_choose_two_values_and_recover(schedule, seed):
    sim = Sim(3, seed=seed)
    sim.settle(0.5)
    play(sim, schedule)
    check_progress(sim, cut_off=sim.names[seed % 3])


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedule=schedules, seed=st.integers(0, 1 << 30))
def test_dueling_proposers_without_leases_never_choose_two_values(schedule, seed):
    sim = Sim(3, seed=seed, leases=False)
    play(sim, schedule)
    for node in sim.nodes.values():
        node.isolated = False
    sim.settle(1.0)  # safety is checked on every step; liveness needs leases to be shown


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedule=schedules, seed=st.integers(0, 1 << 30))
def test_five_replicas_random_schedules(schedule, seed):
    sim = Sim(5, seed=seed)
    play(sim, schedule)
    check_progress(sim, cut_off=sim.names[seed % 5])


# ---------------------------------------------------------------------------------------------
# Directed scenarios


def test_a_leader_is_elected_and_commits_batches():
    sim = Sim(3, drift=False)
    sim.settle(0.5)
    leader = sim.leader()
    assert leader == "r0", "the group's first member should win the first election"
    for _ in range(10):
        sim.submit(leader)
    sim.settle(0.2)
    assert len(sim.applied) == 10
    assert all(sim.results[f"op{i}"]["ok"] for i in range(1, 11))
    assert {sim.nodes[n].replica.commit for n in sim.names} == {sim.nodes[leader].replica.commit}


def test_competing_proposers_agree():
    sim = Sim(3, seed=7, drift=False)
    sim.settle(0.5)
    for _ in range(5):
        sim.submit("r0")
    # Every replica tries to lead at once while proposals are in flight.
    for name in sim.names:
        sim.force_election(name)
    for _ in range(40):
        for name in sim.names:
            sim.sync(name)
        sim.deliver(sim.rng.randrange(1 << 16))
    check_progress(sim)


def test_cut_off_leader_loses_its_lease_before_a_new_leader_serves():
    sim = Sim(3, seed=3, drift=False)
    sim.settle(0.5)
    old = sim.leader()
    sim.submit(old)
    sim.settle(0.1)
    sim.nodes[old].isolated = True
    sim.submit(old)  # accepted into its queue while it still holds the lease
    stuck = f"op{sim.op_counter}"
    sim.settle(3 * TIMING.lease)
    new = sim.leader()
    assert new is not None and new != old
    assert not sim.nodes[old].replica.serving(sim.now(old))
    assert stuck not in sim.applied
    assert sim.results.get(stuck) in (None, {"error": "timeout", "definite": False})
    sim.submit(new)
    sim.settle(0.2)
    assert sim.results[f"op{sim.op_counter}"]["ok"]
    check_progress(sim)


def test_minority_cannot_commit():
    sim = Sim(5, seed=1, drift=False)
    sim.settle(0.5)
    leader = sim.leader()
    others = [n for n in sim.names if n != leader]
    for n in others[:3]:
        sim.nodes[n].isolated = True
    sim.settle(2 * TIMING.lease)
    assert not sim.nodes[leader].replica.serving(sim.now(leader))
    before = len(sim.applied)
    sim.submit(leader)
    sim.settle(0.5)
    assert len(sim.applied) == before
    check_progress(sim)


def test_lagging_replica_catches_up_from_a_snapshot():
    sim = Sim(3, seed=5, drift=False)
    sim.settle(0.5)
    leader = sim.leader()
    lagging = next(n for n in sim.names if n != leader)
    sim.nodes[lagging].isolated = True
    for _ in range(40):
        sim.submit(leader)
        sim.settle(0.02)
    assert sim.nodes[leader].replica.snap_index > 0, "the leader should have truncated its log"
    assert sim.nodes[lagging].replica.commit < sim.nodes[leader].replica.snap_index
    check_progress(sim)


def test_restart_recovers_committed_state_from_storage():
    sim = Sim(3, seed=9, drift=False)
    sim.settle(0.5)
    leader = sim.leader()
    for _ in range(20):
        sim.submit(leader)
    sim.settle(0.3)
    for name in sim.names:
        sim.crash(name)
        assert sim.nodes[name].replica.sm.ops == sim.applied[:len(sim.nodes[name].replica.sm.ops)]
    assert len(sim.nodes[leader].replica.sm.ops) == 20
    check_progress(sim)


def take(sim: Sim, src: str, dest: str, t: str) -> list[dict]:
    """Remove from flight, and return, the messages of type ``t`` from ``src`` to ``dest``."""
    taken = [m for s, d, m in sim.flight if (s, d, m["t"]) == (src, dest, t)]
    sim.flight = [f for f in sim.flight if (f[0], f[1], f[2]["t"]) != (src, dest, t)]
    return taken


def hand(sim: Sim, src: str, dest: str, t: str) -> None:
    """Deliver every in-flight ``t`` from ``src`` to ``dest`` now; ``dest`` then syncs, so its
    answers are in flight."""
    for msg in take(sim, src, dest, t):
        sim.handle(src, dest, msg)
    sim.sync(dest)


def lead(sim: Sim, name: str, acceptors: tuple[str, ...]) -> None:
    """Candidate ``name`` wins phase 1 on the promises of ``acceptors`` alone, has them accept
    what it re-proposes, and takes the lease from their heartbeat acks."""
    sim.sync(name)
    for acceptor in acceptors:
        hand(sim, name, acceptor, "p1a")
        hand(sim, acceptor, name, "p1b")
    for acceptor in acceptors:
        hand(sim, name, acceptor, "p2a")
        hand(sim, acceptor, name, "p2b")
        hand(sim, name, acceptor, "hb")
        hand(sim, acceptor, name, "hb_ack")
    assert sim.nodes[name].replica.serving(sim.now(name)), f"{name} should lead and serve"


def test_a_new_leader_commits_its_proposal_not_its_own_stale_accepted_entry():
    """r1 holds op1 in slot s, accepted under r0's ballot and never chosen. r1 leads on r0's and
    r2's promises alone (its own p1a delayed, so slot s looks empty), proposes op2 there and
    hears r0 and r2 accept it before its own p2a reaches its acceptor: op2 is chosen, and r1
    must apply op2 as the followers do, not the op1 its acceptor still holds."""
    sim = Sim(3, drift=False)
    sim.settle(0.55)  # between two heartbeats, which fall on multiples of 0.1 s
    assert sim.leader() == "r0"
    sim.submit("r0")
    slot = sim.nodes["r0"].replica.next_slot - 1
    for dest in ("r0", "r2"):
        take(sim, "r0", dest, "p2a")
    hand(sim, "r0", "r1", "p2a")
    assert take(sim, "r1", "r0", "p2b"), "r1 should have accepted op1"
    assert sim.nodes["r1"].replica.log[slot][2] == [{"id": "op1"}]
    assert not sim.flight
    sim.t += 2 * TIMING.lease  # every lease and grant runs out; nobody ticks meanwhile
    sim.force_election("r1")
    sim.sync("r1")
    take(sim, "r1", "r1", "p1a")  # r1's message to itself is late: not in the quorum
    lead(sim, "r1", ("r0", "r2"))
    r1 = sim.nodes["r1"].replica
    sim.submit("r1")
    assert r1.next_slot - 1 == slot, "op2 should go into the slot op1 was accepted in"
    delayed = [m for s, d, m in sim.flight if s == d == "r1"]
    sim.flight = [f for f in sim.flight if not f[0] == f[1] == "r1"]
    for acceptor in ("r0", "r2"):
        hand(sim, "r1", acceptor, "p2a")
        hand(sim, acceptor, "r1", "p2b")  # the Sim's checker raises if r1 applies op1 here
    assert sim.chosen[slot] == [{"id": "op2"}]
    assert sim.results["op2"]["ok"]
    sim.flight += [("r1", "r1", m) for m in delayed]
    sim.settle(TIMING.lease)
    assert {n: sim.nodes[n].replica.sm.ops[-1] for n in sim.names} == dict.fromkeys(sim.names,
                                                                                  "op2")
    assert all(sim.nodes[n].replica.sm.ops == sim.applied for n in sim.names)


@pytest.mark.parametrize("bugs", [frozenset(), frozenset({B.SERVE_BEFORE_CATCH_UP})])
def test_a_new_leader_serves_before_its_recovery_only_with_serve_before_catch_up(bugs):
    """The one schedule in which a new leader's lease arrives before the slots it recovered
    are chosen (docs/detection.md, serve-before-catch-up). r0 commits op1 with r2 alone (r1
    never hears of it), then dies. r1 leads on r2's promise, but its first batch to r2
    (recovery p2a, then heartbeat) is lost. At its next heartbeat the resend goes out as hb,
    then p2a: an idle r2 acks the hb at once, while its p2b waits for its (slow) sync. With the
    bug r1 then serves a strong read from a state without op1, acknowledged before; without it
    r1 waits for the p2b."""
    sim = Sim(3, drift=False, bugs=bugs)
    sim.settle(0.5)
    assert sim.leader() == "r0"
    sim.submit("r0")
    take(sim, "r0", "r1", "p2a")
    hand(sim, "r0", "r0", "p2a")
    hand(sim, "r0", "r2", "p2a")
    hand(sim, "r0", "r0", "p2b")
    hand(sim, "r2", "r0", "p2b")
    assert sim.results["op1"]["ok"] and sim.nodes["r0"].replica.sm.ops[-1] == "op1"
    sim.nodes["r0"].isolated = True
    sim.flight = [f for f in sim.flight if "r0" not in f[:2]]
    sim.t += 2 * TIMING.lease  # every lease and grant runs out; nobody ticks meanwhile
    sim.force_election("r1")
    sim.sync("r1")
    for peer in ("r1", "r2"):
        hand(sim, "r1", peer, "p1a")
        hand(sim, peer, "r1", "p1b")
    r1 = sim.nodes["r1"].replica
    assert r1.role == LEADER and r1.commit < r1.ready_slot, "r1 should lead, recovering op1"
    for t in ("p2a", "hb"):  # r1's own acceptor gets its first batch; r2's copy is lost
        hand(sim, "r1", "r1", t)
        take(sim, "r1", "r2", t)
    for t in ("p2b", "hb_ack"):
        hand(sim, "r1", "r1", t)
    sim.t += TIMING.heartbeat
    sim.tick("r1")
    for t in ("hb", "p2a"):
        hand(sim, "r1", "r1", t)
        sim.handle("r1", "r2", take(sim, "r1", "r2", t)[0])
    hand(sim, "r1", "r1", "hb_ack")
    hand(sim, "r2", "r1", "hb_ack")  # r2's hb_ack left at once; its p2b waits for a sync
    assert not take(sim, "r2", "r1", "p2b")
    stale = r1.serving(sim.now("r1")) and "op1" not in r1.sm.ops
    assert stale == (B.SERVE_BEFORE_CATCH_UP in bugs), (
        f"with bugs {sorted(bugs)}: r1 serving={r1.serving(sim.now('r1'))}, applied "
        f"{r1.sm.ops}, commit {r1.commit} < recovered {r1.ready_slot}")
    sim.sync("r2")
    hand(sim, "r2", "r1", "p2b")
    assert r1.serving(sim.now("r1")) and r1.sm.ops[-1] == "op1"


def test_a_healed_ex_leader_does_not_depose_the_healthy_leader():
    """r0 leads, is cut off, and keeps believing it leads (without a lease) while r1 or r2 takes
    over. On heal r0's first heartbeat is nacked: r0 must step down and follow, not run phase 1
    at once and depose the healthy leader (the module docstring's promise)."""
    sim = Sim(3, seed=2, drift=False)
    sim.settle(0.5)
    assert sim.leader() == "r0"
    sim.nodes["r0"].isolated = True
    sim.settle(3 * TIMING.lease)
    new = sim.leader()
    assert new not in (None, "r0")
    healthy = sim.nodes[new].replica
    ballot = healthy.ballot
    assert sim.nodes["r0"].replica.role == LEADER, "the cut-off leader should still believe it"
    sim.nodes["r0"].isolated = False
    sim.flight.clear()
    sim.t += TIMING.heartbeat
    sim.tick("r0")  # r0's heartbeats reach the others first, and are nacked
    for other in ("r1", "r2"):
        hand(sim, "r0", other, "hb")
        hand(sim, other, "r0", "nack")
    sim.submit(new)
    in_flight = f"op{sim.op_counter}"
    sim.settle(TIMING.lease)
    assert (sim.leader(), healthy.ballot) == (new, ballot), \
        f"the healed ex-leader deposed {new}: now {sim.leader()} leads with {healthy.ballot}"
    assert sim.results[in_flight].get("ok"), sim.results[in_flight]
    assert sim.nodes["r0"].replica.leader == new
    check_progress(sim)


def test_a_chosen_value_learnt_by_catchup_is_no_vote_in_the_learners_ballot():
    """r3 stores a slot it learns by catch-up under its promised ballot B, in which r4 voted
    for another (never chosen) value: the Sim's checker must not take that for one ballot
    carrying two values (the store audit's "suspected" list)."""
    sim = Sim(5, drift=False)
    sim.settle(0.5)
    assert sim.leader() == "r0"
    sim.submit("r0")  # opA: every replica but r3 accepts it; r3 then asks r0 for it
    for dest in ("r0", "r1", "r2", "r4"):
        hand(sim, "r0", dest, "p2a")
        hand(sim, dest, "r0", "p2b")
    take(sim, "r0", "r3", "p2a")
    sim.flight.clear()
    sim.t += TIMING.heartbeat
    sim.tick("r0")
    hand(sim, "r0", "r3", "hb")
    held = take(sim, "r3", "r0", "catchup")
    assert held, "r3 should ask r0 for the slot it missed"
    sim.submit("r0")  # op2 in slot s: only r4 accepts it under r0's ballot
    slot = sim.nodes["r0"].replica.next_slot - 1
    hand(sim, "r0", "r4", "p2a")
    sim.flight.clear()
    sim.t += 2 * TIMING.lease
    sim.force_election("r1")  # r1 leads on r0, r1, r2 and chooses op3 in slot s
    lead(sim, "r1", ("r0", "r1", "r2"))
    sim.submit("r1")
    assert sim.nodes["r1"].replica.next_slot - 1 == slot
    for acceptor in ("r0", "r1", "r2"):
        hand(sim, "r1", acceptor, "p2a")
        hand(sim, acceptor, "r1", "p2b")
    sim.t += TIMING.heartbeat
    sim.tick("r1")
    hand(sim, "r1", "r0", "hb")
    assert sim.nodes["r0"].replica.commit >= slot
    assert sim.chosen[slot] == [{"id": "op3"}]
    sim.flight = [("r3", "r0", msg) for msg in held]
    hand(sim, "r3", "r0", "catchup")
    hand(sim, "r0", "r3", "entries")  # r3 still promises r0's ballot and learns op3 in it
    assert sim.nodes["r3"].replica.log[slot][2] == [{"id": "op3"}]
    sim.settle(TIMING.lease)
    assert all(sim.nodes[n].replica.sm.ops == sim.applied for n in sim.names)


def test_a_restarted_candidate_never_reuses_a_ballot_it_led_in():
    """r1 leads with ballot (2, r1) on r0's and r2's promises (its own p1a late), gets op1
    accepted by r2 alone, and crashes before its own acceptor promised (2, r1). Restarted and
    elected without probing (the Sim's forced election), it must not lead with (2, r1) again:
    a second value in that ballot's slot would be chosen while r2 holds op1 under the same
    ballot, which r2 then takes for the chosen value."""
    sim = Sim(3, drift=False)
    sim.settle(0.5)
    sim.t += 2 * TIMING.lease
    sim.force_election("r1")
    sim.sync("r1")
    take(sim, "r1", "r1", "p1a")
    lead(sim, "r1", ("r0", "r2"))
    first = sim.nodes["r1"].replica.ballot
    sim.submit("r1")
    hand(sim, "r1", "r2", "p2a")
    sim.flight.clear()
    sim.crash("r1")
    sim.t += 2 * TIMING.lease  # its quiet period and r2's grant run out
    sim.force_election("r1")
    sim.sync("r1")
    second = sim.nodes["r1"].replica.ballot
    take(sim, "r1", "r2", "p1a")
    lead(sim, "r1", ("r0", "r1"))
    sim.submit("r1")
    for acceptor in ("r0", "r1"):
        hand(sim, "r1", acceptor, "p2a")
        hand(sim, acceptor, "r1", "p2b")
    sim.settle(TIMING.lease)
    assert all(sim.nodes[n].replica.sm.ops == sim.applied for n in sim.names)
    assert second > first
