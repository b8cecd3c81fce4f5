"""session: read-your-writes and monotonic reads, reported per process and key."""

from eventual_histories import Builder

from splitbrain.checkers import session


def test_versioned_sessions():
    b = Builder()
    b.op(0, "write", 1, t0=0, t1=1, meta={"version": 1})
    b.op(0, "write", 2, t0=2, t1=3, meta={"version": 2})
    b.op(0, "read", t0=4, t1=5, output=1, meta={"version": 1}, consistency="eventual")
    b.op(1, "read", t0=4, t1=5, output=2, meta={"version": 2})
    b.op(1, "read", t0=6, t1=7, output=1, meta={"version": 1})
    b.op(1, "read", t0=8, t1=9, output=2, meta={"version": 2})
    r = session.check(b.history())
    assert [(a["type"], a["process"]) for a in r.anomalies] == [
        ("read-your-writes", 0), ("monotonic-reads", 1)]
    assert r.anomalies[0]["ops"] == [2, 4] and r.anomalies[0]["consistency"] == "eventual"
    assert r.stats["read_your_writes"] == 1 and r.stats["monotonic_reads"] == 1


def test_clean_session():
    b = Builder()
    b.op(0, "write", 1, t0=0, t1=1, meta={"ts": 1.0})
    b.op(0, "read", t0=2, t1=3, output=1, meta={"ts": 1.0})
    b.op(1, "read", t0=2, t1=3, output=None)
    b.op(1, "read", t0=4, t1=5, output=1, meta={"ts": 1.0})
    assert session.check(b.history()).anomalies == []


def test_causal_sessions_in_dynamo():
    b = Builder()
    sib = {"siblings": True}
    b.op(0, "write", 1, t0=0, t1=1, meta={"read": [], **sib})
    b.op(0, "write", 2, t0=2, t1=3, meta={"read": [1], **sib})
    b.op(0, "read", t0=4, t1=5, output=[2], meta=sib)          # reflects 2: fine
    b.op(1, "read", t0=4, t1=5, output=[2], meta=sib)
    b.op(1, "read", t0=6, t1=7, output=[1], meta=sib)          # went back: MR
    b.op(0, "read", t0=6, t1=7, output=[1], meta=sib)          # lost own write: RYW (and MR)
    r = session.check(b.history())
    assert sorted((a["type"], a["process"]) for a in r.anomalies) == [
        ("monotonic-reads", 0), ("monotonic-reads", 1), ("read-your-writes", 0)]
