"""lww: convergence to the highest timestamp, lost writes under skew, lost updates."""

from eventual_histories import Builder

from splitbrain.checkers import lww


def final(b: Builder, value, ts, t=100, nodes=("n1", "n2", "n3"), key="k"):
    for i, node in enumerate(nodes):
        b.op(90 + i, "read", t0=t + i, t1=t + i + 0.5, output=value, node=node, key=key,
             meta={"final": True, "ts": ts}, inv_meta={"final": True})


def two_writes() -> Builder:
    """Write 1 (ts 1.0), then write 2 (ts 2.0), one after the other."""
    b = Builder()
    b.op(0, "write", 1, t0=0, t1=1, meta={"ts": 1.0})
    b.op(1, "write", 2, t0=2, t1=3, meta={"ts": 2.0})
    return b


def test_later_write_with_higher_ts_wins_no_loss():
    b = two_writes()
    final(b, 2, 2.0)
    r = lww.check(b.history())
    assert r.valid is True and r.anomalies == []
    assert r.stats["lost_writes"] == 0 and r.stats["keys_judged"] == 1


def test_lost_write_from_clock_skew():
    b = Builder()
    b.op(0, "write", 1, t0=0, t1=1, meta={"ts": 9.0})  # coordinator clock far ahead
    b.op(1, "write", 2, t0=2, t1=3, meta={"ts": 2.0})  # later in real time, lower ts
    final(b, 1, 9.0)
    r = lww.check(b.history())
    assert r.valid is True  # LWW permits it
    [a] = r.anomalies
    assert a["type"] == "lost-write" and a["ops"] == [2, 0]
    assert a["value"] == 2 and a["overwriting_value"] == 1 and a["ts"] == 2.0
    assert "higher ts 9.0" in a["explanation"]
    assert r.stats["lost_writes"] == 1


def tied_writes(first_node: str, second_node: str) -> Builder:
    """Write 1 through ``first_node``, then write 2 through ``second_node``, one after the other,
    both stamped ts 5.0 (a coarse clock: same second)."""
    b = Builder()
    b.op(0, "write", 1, t0=0, t1=1, node=first_node, meta={"ts": 5.0})
    b.op(1, "write", 2, t0=2, t1=3, node=second_node, meta={"ts": 5.0})
    return b


def test_a_tie_lost_to_the_tie_break_is_a_lost_write():
    # Same ts: the lww store keeps the higher coordinator name, n3, so the newer write is lost.
    b = tied_writes("n3", "n1")
    final(b, 1, 5.0)
    r = lww.check(b.history())
    assert r.valid is True  # LWW permits it
    [a] = r.anomalies
    assert a["type"] == "lost-write" and a["ops"] == [2, 0]
    assert a["value"] == 2 and a["overwriting_value"] == 1
    assert a["ts"] == a["overwriting_ts"] == 5.0
    assert "carried the same ts 5.0, and last-write-wins broke the tie by coordinator " \
           "(n3 over n1)" in a["explanation"]


def test_a_tie_won_by_the_newer_write_loses_nothing():
    b = tied_writes("n1", "n3")
    final(b, 2, 5.0)
    r = lww.check(b.history())
    assert r.valid is True and r.anomalies == []


def test_concurrent_writes_are_not_lost_writes():
    b = Builder()
    b.op(0, "write", 1, t0=0, t1=3, meta={"ts": 9.0})
    b.op(1, "write", 2, t0=1, t1=4, meta={"ts": 2.0})  # overlaps: either order is fine
    final(b, 1, 9.0)
    assert lww.check(b.history()).anomalies == []


def test_not_converged():
    b = two_writes()
    final(b, 2, 2.0, nodes=("n1", "n2"))
    final(b, 1, 1.0, t=110, nodes=("n3",))
    r = lww.check(b.history())
    assert r.valid is False
    [a] = r.anomalies
    assert a["type"] == "not-converged" and a["nodes"] == {"n1": [2], "n2": [2], "n3": [1]}


def test_not_highest_timestamp():
    b = two_writes()
    final(b, 1, 1.0)
    r = lww.check(b.history())
    assert r.valid is False
    assert [a["type"] for a in r.anomalies] == ["not-highest-timestamp"]
    assert r.anomalies[0]["expected"] == 2


def test_empty_after_acknowledged_write_is_not_highest_timestamp():
    b = Builder()
    b.op(0, "write", 1, t0=0, t1=1, meta={"ts": 1.0})
    final(b, None, None)
    assert lww.check(b.history()).anomalies[0]["type"] == "not-highest-timestamp"


def test_without_final_reads_convergence_is_unknown():
    b = Builder()
    b.op(0, "write", 1, t0=0, t1=1, meta={"ts": 1.0})
    r = lww.check(b.history())
    assert r.valid == "unknown" and "final read" in r.reason


def test_lost_update():
    b = Builder()
    b.op(0, "add", 1, t0=0, t1=2, meta={"read": [[]], "ts": 1.0})
    b.op(1, "add", 2, t0=0.5, t1=2.5, meta={"read": [[]], "ts": 1.5})
    b.op(2, "add", 3, t0=3, t1=4, meta={"read": [[2]], "ts": 3.0})
    r = lww.check(b.history())
    [a] = r.anomalies
    assert a["type"] == "lost-update" and a["ops"] == [0, 1] and a["lost"] == 1
    assert r.stats["read_modify_writes"] == 3 and r.stats["lost_updates"] == 1


def test_read_modify_writes_of_distinct_states_lose_nothing():
    b = Builder()
    b.op(0, "add", 1, t0=0, t1=1, meta={"read": [[]], "ts": 1.0})
    b.op(1, "add", 2, t0=2, t1=3, meta={"read": [[1]], "ts": 2.0})
    assert lww.check(b.history()).anomalies == []


def tie(final_value, final_ts=5.0) -> Builder:
    """Two writes with the same ts 5.0 via n1 and n2; the final reads show ``final_value``."""
    b = Builder()
    b.op(0, "write", "a", t0=0, t1=1, node="n1", meta={"ts": 5.0})
    b.op(1, "write", "b", t0=0, t1=1, node="n2", meta={"ts": 5.0})
    final(b, final_value, final_ts)
    return b


def test_a_tie_is_judged_by_the_documented_tie_break_and_its_loser_counted():
    r = lww.check(tie("b").history())  # n2 > n1: the documented winner
    assert r.valid is True
    [lost] = r.anomalies
    assert lost["type"] == "lost-write" and lost["tie"] is True and lost["value"] == "a"
    assert "lost to a tie" in lost["explanation"]


def test_a_tie_broken_against_the_documented_rule_is_a_violation():
    r = lww.check(tie("a").history())
    assert r.valid is False
    types = sorted(a["type"] for a in r.anomalies)
    assert types == ["lost-write", "not-highest-timestamp"]
    bad = next(a for a in r.anomalies if a["type"] == "not-highest-timestamp")
    assert bad["expected"] == "b" and "tie-break" in bad["explanation"]


def test_a_final_read_answered_by_fallbacks_is_not_a_replica_that_failed_to_converge():
    b = two_writes()
    final(b, 2, 2.0, nodes=("n1", "n2"))
    b.op(92, "read", t0=103, t1=103.5, output=None, node="n3", inv_meta={"final": True},
         meta={"final": True, "quorum": {"needed": 2, "answered": 2, "fallbacks": 2}})
    r = lww.check(b.history())
    assert r.valid is True and r.anomalies == []
