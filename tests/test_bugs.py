"""The planted-bug catalogue (splitbrain.db.bugs): every bug's switch changes what the node does,
shown on the in-memory environment (no processes, no sockets), and the config refuses a bug it
does not know or that does not fit the mode."""

from __future__ import annotations

import asyncio
import random
from typing import Callable

import pytest

from splitbrain.db import bugs as B
from splitbrain.db import versions as v
from splitbrain.db.config import ConfigError, local_config
from splitbrain.db.dynamo import HINTS, KV, DynamoStore, versions_for
from splitbrain.db.dynamodb import partition_of
from splitbrain.db.env import MemoryNetwork, memory_env
from splitbrain.db.errors import NodeError
from splitbrain.db.paxos import (LEADERSHIP_LOST, NOT_LEADER, Output, PaxosHost, Replica,
                                 Timing)
from test_db_cluster_memory import MemoryCluster
from test_dynamodb import MemCluster

CORRECT: frozenset[str] = frozenset()


def test_every_bug_is_declared_once_with_a_sentence_and_a_run_in_its_mode():
    assert len(B.CATALOGUE) == len({b.name for b in B.CATALOGUE.values()})
    for bug in B.CATALOGUE.values():
        assert bug.sentence and not bug.sentence.endswith(".")
        assert bug.mode in bug.modes, bug


def test_the_config_refuses_unknown_bugs_and_bugs_of_another_mode():
    with pytest.raises(ConfigError, match="no planted bug is named 'nope'.*--bug list"):
        local_config("dynamodb", 3, "/nonexistent", ports=list(range(1, 7)), bugs=["nope"])
    with pytest.raises(ConfigError, match="lww-no-tiebreak is planted in mode lww, not dynamodb"):
        local_config("dynamodb", 3, "/nonexistent", ports=list(range(1, 7)),
                     bugs=[B.LWW_NO_TIEBREAK])
    cfg = local_config("lww", 3, "/nonexistent", ports=list(range(1, 7)),
                       bugs=[B.LWW_NO_TIEBREAK, B.LWW_NO_TIEBREAK])
    assert cfg.bugs == [B.LWW_NO_TIEBREAK]


# ---------------------------------------------------------------------------------------------
# Paxos (dynamodb): three replicas of one group, messages delivered by hand, time set by hand


class Ops:
    def __init__(self) -> None:
        self.applied: list[str] = []

    def apply(self, op: dict) -> dict:
        self.applied.append(op["id"])
        return {"ok": True}

    def snapshot(self) -> list[str]:
        return list(self.applied)

    def restore(self, data: list[str]) -> None:
        self.applied = list(data)


Drop = Callable[[str, str, dict], bool]


class Group:
    """Replicas a, b, c of group 0; ``deliver`` runs messages to quiescence."""

    def __init__(self, bugs: frozenset[str]):
        self.names = ["a", "b", "c"]
        self.now = 0.0
        self.r = {m: Replica(0, m, self.names, Ops(), Timing(), random.Random(i), 0.0, bugs=bugs)
                  for i, m in enumerate(self.names)}
        self.results: dict[str, dict] = {}

    def deliver(self, src: str, out: Output, drop: Drop = lambda s, d, m: False) -> None:
        queue = [(src, d, m) for d, m in out.send]
        self.results.update(out.results)
        while queue:
            s, d, m = queue.pop(0)
            if drop(s, d, m):
                continue
            o = self.r[d].handle(s, m, self.now)
            self.results.update(o.results)
            queue += [(d, d2, m2) for d2, m2 in o.send]

    def elect(self, name: str = "a", drop: Drop = lambda s, d, m: False) -> Replica:
        self.now += 1.0
        r = self.r[name]
        r.election_at = -1.0
        self.deliver(name, r.tick(self.now), drop)
        return r


def test_read_without_lease_serves_after_the_lease_ran_out():
    for bugs, serves in ((CORRECT, False), (frozenset({B.READ_WITHOUT_LEASE}), True)):
        g = Group(bugs)
        leader = g.elect()
        assert leader.serving(g.now)
        assert leader.serving(g.now + 10) is serves  # no heartbeat acked for 10 s


def test_serve_before_catch_up_serves_with_recovered_slots_uncommitted():
    for bugs, serves in ((CORRECT, False), (frozenset({B.SERVE_BEFORE_CATCH_UP}), True)):
        g = Group(bugs)
        g.r["b"].log[1] = [1, "c", [{"id": "x"}]]  # accepted by b under an old leader c
        leader = g.elect(drop=lambda s, d, m: m["t"] == "p2b")  # the re-proposal stays open
        assert leader.ready_slot == 1 and leader.commit == 0
        assert leader.serving(g.now) is serves


def test_accept_without_prepare_drops_an_accepted_value_found_in_phase_1():
    for bugs, recovered in ((CORRECT, True), (frozenset({B.ACCEPT_WITHOUT_PREPARE}), False)):
        g = Group(bugs)
        g.r["b"].log[1] = [1, "c", [{"id": "x"}]]
        g.r["c"].log[1] = [1, "c", [{"id": "x"}]]
        g.elect()
        assert ("x" in g.r["a"].sm.applied) is recovered


def test_lease_from_ack_arrival_extends_the_lease_past_what_the_heartbeat_allows():
    for bugs, until in ((CORRECT, 1.0 + 1.8), (frozenset({B.LEASE_FROM_ACK_ARRIVAL}), 2.5 + 1.8)):
        g = Group(bugs)
        leader = g.elect(drop=lambda s, d, m: m["t"] == "hb_ack")  # heartbeat sent at 1.0
        for peer in ("b", "c"):  # its acks arrive 1.5 s late
            leader.handle(peer, {"t": "hb_ack", "g": 0, "b": list(leader.ballot), "at": 1.0,
                                 "c": 0}, 2.5)
        assert leader.lease_until == pytest.approx(until)


def test_no_lease_wait_promises_a_new_ballot_while_granting_a_lease():
    for bugs, answer in ((CORRECT, "nack"), (frozenset({B.NO_LEASE_WAIT}), "p1b")):
        g = Group(bugs)
        g.elect()  # b grants a the lease
        out = g.r["b"].handle("c", {"t": "p1a", "g": 0, "b": [9, "c"], "from": 1}, g.now + 0.1)
        assert [m["t"] for _, m in out.send] == [answer]
        probe = g.r["b"].handle("c", {"t": "probe", "g": 0}, g.now + 0.5)
        assert probe.send[0][1]["ok"] is (answer == "p1b")


def test_apply_before_commit_applies_an_accepted_entry_at_once():
    for bugs, applied in ((CORRECT, []), (frozenset({B.APPLY_BEFORE_COMMIT}), ["x"])):
        g = Group(bugs)
        g.r["b"].handle("a", {"t": "p2a", "g": 0, "b": [1, "a"], "s": 1, "v": [{"id": "x"}],
                              "c": 0}, 1.0)
        assert g.r["b"].sm.applied == applied


def test_indefinite_as_definite_reports_in_flight_writes_of_a_deposed_leader_as_failed():
    for bugs, result in ((CORRECT, LEADERSHIP_LOST),
                         (frozenset({B.INDEFINITE_AS_DEFINITE}), NOT_LEADER)):
        g = Group(bugs)
        leader = g.elect()
        leader.submit({"id": "w"}, g.now)
        leader.flush(g.now)  # proposed, never acknowledged
        out = leader.handle("b", {"t": "nack", "g": 0, "promised": [99, "c"]}, g.now)
        assert dict(out.results)["w"] == result


class StillClock:
    """Time stands still: monotonic 100, wall 1000 (as if skewed by a clock nemesis)."""

    offset = 0.0

    def monotonic(self) -> float:
        return 100.0

    def wall(self) -> float:
        return 1000.0


def _host(bugs: list[str]) -> tuple[PaxosHost, list]:
    cfg = local_config("dynamodb", 3, "/nonexistent", ports=list(range(1, 7)), bugs=bugs)
    env = memory_env("n1", MemoryNetwork(), config=cfg)
    env.clock = StillClock()
    sent: list = []
    env.transport.send = lambda dest, msg: sent.append((dest, msg))  # type: ignore[method-assign]
    return PaxosHost(env, {}, lambda g: Ops(), Timing()), sent


def test_lease_on_wall_clock_times_the_replicas_on_the_skewable_wall_clock():
    async def main() -> None:
        for bugs, now in (([], 100.0), ([B.LEASE_ON_WALL_CLOCK], 1000.0)):
            assert _host(bugs)[0].now() == now

    asyncio.run(main())


def test_paxos_ack_before_fsync_sends_before_the_promise_is_synced():
    async def main() -> None:
        for bugs, before_sync in (([], 0), ([B.PAXOS_ACK_BEFORE_FSYNC], 1)):
            host, sent = _host(bugs)
            host._execute(Output(persist=[("px0", "promised", [1, "n2"])],
                                 send=[("n2", {"t": "p1b"})]))
            assert len(sent) == before_sync and host.env.storage.syncs == 0
            await asyncio.sleep(0.01)
            assert len(sent) == 1

    asyncio.run(main())


# ---------------------------------------------------------------------------------------------
# The dynamodb store: five nodes on the in-memory network


def _dynamodb(bugs: list[str]) -> MemCluster:
    c = MemCluster()
    c.config.bugs = bugs
    return c


def test_strong_read_any_replica_answers_a_strong_read_at_a_cut_off_follower():
    async def main(bugs: list[str]) -> list | str:
        async with _dynamodb(bugs) as c:
            key = "k"
            p = partition_of(key, c.config.partitions)
            leader = c.leader(p)
            follower = next(m for m in c.stores[leader].groups[p] if m != leader)
            await c.stores[leader].put(key, 1)
            await c.until(lambda: c.stores[follower].states[p].read(key).values == [1])
            c.net.isolate(follower)
            await c.stores[leader].put(key, 2)
            try:
                return (await c.stores[follower].get(key, consistency="strong")).values
            except NodeError as e:
                return e.code

    assert asyncio.run(main([])) in ("unavailable", "timeout")
    assert asyncio.run(main([B.STRONG_READ_ANY_REPLICA])) == [1]


def test_add_as_read_modify_write_loses_concurrent_adds():
    async def main(bugs: list[str]) -> list:
        async with _dynamodb(bugs) as c:
            await asyncio.gather(*(c.stores[n].add("k", 1) for n in c.config.names))
            return (await c.stores["n1"].get("k", consistency="strong")).values

    assert asyncio.run(main([])) == [5]
    assert asyncio.run(main([B.ADD_AS_READ_MODIFY_WRITE]))[0] < 5


def test_cas_at_forwarder_lets_concurrent_conditional_writes_all_succeed():
    async def main(bugs: list[str]) -> int:
        async with _dynamodb(bugs) as c:
            await c.stores["n1"].put("k", 0)
            await asyncio.sleep(0.2)  # every replica applied it
            results = await asyncio.gather(
                *(c.stores[n].put("k", i + 1, condition={"equals": 0})
                  for i, n in enumerate(c.config.names)), return_exceptions=True)
            return sum(not isinstance(r, Exception) for r in results)

    assert asyncio.run(main([])) == 1
    assert asyncio.run(main([B.CAS_AT_FORWARDER])) > 1


# ---------------------------------------------------------------------------------------------
# The dynamo and lww stores


def _store(mode: str, bugs: list[str]) -> DynamoStore:
    cfg = local_config(mode, 5, "/nonexistent", ports=list(range(1, 11)), bugs=bugs)
    return DynamoStore(memory_env("n1", MemoryNetwork(), config=cfg))


A = ["n1.1", 1, [], [], "a"]  # two concurrent siblings: neither history holds the other's dot
B2 = ["n2.1", 2, [["n2.1", 1]], [], "b"]


def test_sloppy_quorum_r1w1_waits_for_one_replica():
    assert (_store("lww", [])._quorum(None, "r"), _store("lww", [])._quorum(None, "w")) == (2, 2)
    bug = _store("lww", [B.SLOPPY_QUORUM_R1W1])
    assert (bug._quorum(None, "r"), bug._quorum(None, "w")) == (1, 1)


def test_vv_concurrent_as_descendant_drops_a_concurrent_sibling():
    assert v.dvv_merge([A], [B2]) == [A, B2]
    assert versions_for("dynamo", frozenset({B.VV_CONCURRENT_AS_DESCENDANT})).merge([A], [B2]) \
        == [B2]


def test_lww_no_tiebreak_keeps_whichever_equal_timestamp_a_replica_had():
    x, y = [5.0, "n1", "x"], [5.0, "n2", "y"]
    good = versions_for("lww", CORRECT)
    assert good.merge([x], [y]) == good.merge([y], [x])
    bad = versions_for("lww", frozenset({B.LWW_NO_TIEBREAK}))
    assert bad.merge([x], [y]) == [x] and bad.merge([y], [x]) == [y]
    state, result = bad.write([], "v", None, "n1", 1_700_000_000.75)
    assert result.ts == 1_700_000_000.0 and state == [[1_700_000_000.0, "n1", "v"]]


def _owned_key(store: DynamoStore) -> str:
    return next(k for k in (f"k{i}" for i in range(1000)) if store.ring.range_of(k) in store.owned)


@pytest.mark.parametrize("bug, handler", [(B.READ_REPAIR_OVERWRITES, "_on_repair"),
                                          (B.ANTI_ENTROPY_OVERWRITES, "_on_ae_data")])
def test_repair_paths_overwrite_instead_of_merging(bug, handler):
    async def main(bugs: list[str]) -> list:
        store = _store("dynamo", bugs)
        key = _owned_key(store)
        store.storage.put(KV, key, [A])
        msg = {"key": key, "state": [B2], "hint": None, "range": store.ring.range_of(key),
               "states": {key: [B2]}, "reply": False, "buckets": []}
        await getattr(store, handler)("n2", msg)
        return store.storage.get(KV, key)

    assert asyncio.run(main([])) == [A, B2]
    assert asyncio.run(main([bug])) == [B2]


def test_handoff_drops_hints_deletes_a_hint_its_owner_never_acknowledged():
    async def main(bugs: list[str]) -> object:
        store = _store("dynamo", bugs)
        store.timeout = 0.05
        store.membership = type("M", (), {"suspect": lambda self, n: None})()
        store.storage.put(HINTS, ("n2", "k"), [A])
        await store._hand_off("n2", "k", [A])  # n2 is down: nobody answers
        return store.storage.get(HINTS, ("n2", "k"))

    assert asyncio.run(main([])) == [A]
    assert asyncio.run(main([B.HANDOFF_DROPS_HINTS])) is None


@pytest.mark.parametrize("mode", ["dynamo", "lww"])
def test_dynamo_ack_before_fsync_acknowledges_a_write_a_crash_then_loses(mode):
    async def main(bugs: list[str]) -> list:
        c = MemoryCluster(mode)
        c.config.bugs = bugs
        async with c:
            await c.nodes["n1"].put("k", "v")
            for storage in c.storages.values():
                storage.crash()
            return [c.local_values(n, "k") for n in c.config.names]

    assert any(values == ["v"] for values in asyncio.run(main([])))
    assert all(values == [] for values in asyncio.run(main([B.DYNAMO_ACK_BEFORE_FSYNC])))


# ---------------------------------------------------------------------------------------------
# The command line, test.json and the report


def test_bug_list_prints_the_catalogue_and_exits_0(capsys):
    from splitbrain.cli import main

    with pytest.raises(SystemExit) as e:
        main(["test", "--bug", "list"])
    out = capsys.readouterr().out
    assert e.value.code == 0
    assert len(out.splitlines()) == len(B.CATALOGUE)
    assert "lww-no-tiebreak" in out and B.CATALOGUE[B.LWW_NO_TIEBREAK].sentence in out


@pytest.mark.parametrize("argv, message", [
    (["test", "--bug", "nope"], "no planted bug is named 'nope'"),
    (["test", "--mode", "lww", "--bug", B.READ_WITHOUT_LEASE],
     "read-without-lease is planted in mode dynamodb, not lww"),
    (["cluster", "up", "--mode", "dynamodb", "--bug", B.LWW_NO_TIEBREAK, "--root", "/nonexistent"],
     "lww-no-tiebreak is planted in mode lww, not dynamodb"),
])
def test_a_bad_bug_is_one_sentence_and_exit_254(argv, message, capsys):
    from splitbrain.cli import main

    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 254
    assert message in err and len(err.strip().splitlines()) == 1


def test_the_reproduce_command_and_the_report_header_carry_the_planted_bugs():
    from splitbrain.harness.testrun import TestOptions
    from splitbrain.reports.html import planted_bugs

    opts = TestOptions(mode="dynamo", bug=(B.READ_REPAIR_OVERWRITES, B.HANDOFF_DROPS_HINTS),
                       seed=7)
    opts.validate()
    assert opts.command().endswith(f"--bug {B.READ_REPAIR_OVERWRITES} "
                                   f"--bug {B.HANDOFF_DROPS_HINTS}")
    assert planted_bugs({"bug": list(opts.bug)}) == [
        (B.READ_REPAIR_OVERWRITES, B.CATALOGUE[B.READ_REPAIR_OVERWRITES].sentence),
        (B.HANDOFF_DROPS_HINTS, B.CATALOGUE[B.HANDOFF_DROPS_HINTS].sentence)]
    assert planted_bugs({}) == []


def test_retry_non_idempotent_resends_a_timed_out_write_to_the_next_replica():
    async def main(bugs: list[str]) -> object:
        async with _dynamodb(bugs) as c:
            p = partition_of("k", c.config.partitions)
            leader = c.leader(p)
            outsider = next(n for n in c.config.names if n not in c.stores[leader].groups[p])
            await c.crash(leader)  # the forward times out; the rest of the group elects anew
            await c.until(lambda: c.leader(p) is not None)
            # The outsider still believes in the crashed leader: set just before the add, as
            # the new leader's announcement may already have reached it (a race seen on CI).
            c.stores[outsider].hints[p] = leader
            try:
                return (await c.stores[outsider].add("k", 1)).values
            except NodeError as e:
                return e.code

    assert asyncio.run(main([])) == "timeout"
    assert asyncio.run(main([B.RETRY_NON_IDEMPOTENT])) == [1]
