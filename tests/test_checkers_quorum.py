"""quorum: with R+W>N, reads outside fault windows are never stale; replies counting fewer than
R or W replicas are broken quorums."""

import random

import pytest
from eventual_histories import Builder

from splitbrain.checkers import availability, policy, quorum
from splitbrain.nemesis.faults import KINDS

NRW = dict(n=3, r=2, w=2)
SETTLE = 0.01  # seconds: 10 ms of the Builder's millisecond times
OWNERS = {"needed": 2, "answered": 2, "fallbacks": 0}


def lww(b: Builder, *, read_at: float, ts_read: float = 1.0, read_quorum=OWNERS,
        write_quorum=OWNERS) -> None:
    b.op(0, "write", "old", t0=0, t1=1, meta={"ts": 1.0, "quorum": OWNERS})
    b.op(0, "write", "new", t0=2, t1=3, meta={"ts": 2.0, "quorum": write_quorum})
    b.op(1, "read", t0=read_at, t1=read_at + 1, output="old" if ts_read == 1.0 else "new",
         meta={"ts": ts_read, "quorum": read_quorum})


def check(b: Builder, **kw):
    return quorum.check(b.history(), **{**NRW, "settle": SETTLE, **kw})


def test_a_stale_read_outside_fault_windows_breaks_the_quorum_promise():
    b = Builder()
    lww(b, read_at=10)
    r = check(b, faults_recorded=True)
    [a] = r.anomalies
    assert a["type"] == quorum.STALE and a["ops"] == [4, 2] and a["t_ms"] == 7.0
    assert "with R=2, W=2 of N=3 every read quorum meets every write quorum" in a["explanation"]
    assert r.stats["quiet_reads"] == 1 and r.details["unchecked"] == {}
    assert r.stats["pbs_stale_fraction"] == 0.0
    b = Builder()
    lww(b, read_at=10, ts_read=2.0)
    assert check(b, faults_recorded=True).anomalies == []


@pytest.mark.parametrize("read_at, stale", [(4.5, False),   # during the partition
                                            (21, False),    # within settle of the heal
                                            (40, True),     # settled
                                            (55, False)])   # ends inside the next fault
def test_only_reads_with_no_fault_in_force_since_the_settle_time_are_judged(read_at, stale):
    b = Builder()
    b.nemesis("start-partition", 4, 4.2, value={"topology": "halves"})
    b.nemesis("stop-partition", 19, 20)
    b.nemesis("kill", 55.5, 56, value={"nodes": ["n1"]})
    lww(b, read_at=read_at)
    assert [a["type"] for a in check(b).anomalies] == ([quorum.STALE] if stale else [])


def test_sloppy_quorums_promise_nothing():
    sloppy = {"needed": 2, "answered": 2, "fallbacks": 1}
    b = Builder()
    lww(b, read_at=10, read_quorum=sloppy)
    r = check(b, faults_recorded=True)
    assert r.anomalies == [] and r.stats["sloppy_reads_skipped"] == 1
    b = Builder()
    lww(b, read_at=10, write_quorum=sloppy)  # the newest write owners surely hold is "old"
    assert check(b, faults_recorded=True).anomalies == []


def test_a_reply_counting_fewer_replicas_than_the_quorum_is_a_broken_quorum():
    one = {"needed": 1, "answered": 1, "fallbacks": 0}
    b = Builder()
    lww(b, read_at=10, read_quorum=one)
    b.op(2, "write", "x", t0=20, t1=21, meta={"ts": 3.0, "quorum": OWNERS, "read_quorum": one})
    r = check(b, faults_recorded=True)
    assert sorted(a["type"] for a in r.anomalies) == [quorum.BROKEN, quorum.BROKEN, quorum.STALE]
    broken = [a for a in r.anomalies if a["type"] == quorum.BROKEN]
    assert broken[0]["explanation"].startswith(
        "Read of key 'k' (op 4) was answered by 1 replica(s), fewer than the cluster's R=2 "
        "(the node waited for 1)")
    assert broken[1]["explanation"].startswith("The read half of write")


def test_dynamo_reads_are_stale_when_they_neither_return_nor_cover_the_write():
    b = Builder()
    b.op(0, "write", 1, t0=0, t1=1, meta={"quorum": OWNERS, "context": "c0", "read": []})
    b.op(0, "write", 2, t0=2, t1=3, meta={"quorum": OWNERS, "context": "c1", "read": [1]})
    b.op(1, "read", t0=10, t1=11, output=[1], meta={"siblings": True, "quorum": OWNERS,
                                                    "context": "c1"})
    b.op(1, "read", t0=12, t1=13, output=[2], meta={"siblings": True, "quorum": OWNERS,
                                                    "context": "c2"})
    r = check(b, faults_recorded=True)
    assert [(a["type"], a["ops"][0]) for a in r.anomalies] == [(quorum.STALE, 4)]


def test_what_cannot_be_judged_is_said_so():
    b = Builder()
    lww(b, read_at=10)
    r = check(b)  # no nemesis ops, and nobody said the history records every fault
    assert r.anomalies == [] and "no nemesis ops" in r.details["unchecked"][quorum.STALE]
    r = check(b, faults_recorded=True, n=3, r=1, w=2)
    assert r.details["unchecked"][quorum.STALE].startswith("R+W<=N (R=1, W=2, N=3)")
    assert quorum.STALE in check(b, faults_recorded=True, settle=None).details["unchecked"]
    b = Builder()
    b.op(0, "write", "a", t0=0, t1=1, meta={"ts": 1.0})
    assert quorum.BROKEN in check(b).details["unchecked"]


def test_the_verdict_names_the_broken_promise_and_what_was_not_checked():
    params = {"n": 3, "r": 2, "w": 2, "failure_timeout_ms": 1, "gossip_interval_ms": 1,
              "hint_interval_ms": 1, "request_timeout_ms": 1}  # settle: 7 ms
    b = Builder()
    lww(b, read_at=10)
    v = policy.judge(b.history(), "lww", "register", params=params)
    assert v.valid is False and v.details["violated"] == [policy._QUORUM_READS.text]
    states = {p["text"]: p for p in v.details["promises"]}
    assert states[policy._QUORUMS.text]["state"] == policy.NO_VIOLATION
    weak = policy.judge(b.history(), "lww", "register", params={**params, "r": 1})
    p = {p["text"]: p for p in weak.details["promises"]}[policy._QUORUM_READS.text]
    assert weak.valid is not False and p["state"] == policy.NOT_CHECKED
    assert p["note"].startswith("the quorum checker did not judge it: R+W<=N")


def test_every_fault_kind_starts_and_heals_with_names_the_windows_know():
    rng = random.Random(1)
    names = ["n1", "n2", "n3", "n4", "n5"]
    for kind, cls in KINDS.items():
        nemesis = cls()
        start = nemesis.plan(names, rng)
        nemesis.active = start
        stop = nemesis.stopping()
        assert availability.fault_kind(start["f"])[0] == "start", kind
        assert availability.fault_kind(stop["f"])[0] == "stop", kind


def test_a_dynamo_read_through_an_indeterminate_write_is_not_judged_stale():
    """Write 3 timed out: its read half is not recorded, so it may have read (and covered) 2."""
    b = Builder()
    b.op(0, "write", 1, t0=0, t1=1, meta={"quorum": OWNERS, "read": []})
    b.op(0, "write", 2, t0=2, t1=3, meta={"quorum": OWNERS, "read": [1]})
    b.op(2, "write", 3, t0=2.5, t1=50, type="info", output=None)
    b.op(3, "write", 4, t0=8, t1=60, type="info", output=None)
    b.op(4, "write", 5, t0=12, t1=13, meta={"quorum": OWNERS, "read": [3]})
    b.op(1, "read", t0=10, t1=11, output=[3], meta={"siblings": True, "quorum": OWNERS})
    b.op(1, "read", t0=20, t1=21, output=[5], meta={"siblings": True, "quorum": OWNERS})
    assert check(b, faults_recorded=True).anomalies == []
