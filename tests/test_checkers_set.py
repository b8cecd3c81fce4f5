"""set: Jepsen set-full outcomes per element."""

from eventual_histories import Builder

from splitbrain.checkers import sets


def final(b: Builder, elements, t=100, nodes=("n1", "n2")):
    for i, node in enumerate(nodes):
        b.op(90 + i, "read", t0=t + i, t1=t + i + 0.5, output=elements, node=node,
             meta={"final": True}, inv_meta={"final": True})


def test_all_present_with_stable_latency():
    b = Builder()
    b.op(0, "add", 1, t0=0, t1=1)
    b.op(1, "add", 2, t0=0, t1=2)
    b.op(2, "read", t0=3, t1=4, output=[1])      # 2 not visible yet: stale
    b.op(2, "read", t0=11, t1=12, output=[1, 2])
    final(b, [1, 2])
    r = sets.check(b.history())
    assert r.valid is True
    assert r.stats["ok"] == 2 and r.stats["lost"] == 0 and r.stats["stale"] == 1
    assert [a["type"] for a in r.anomalies] == ["stale-read"]
    assert r.details["stable_latency_ms"]["max"] == 9.0  # acked at 2, stable from the read at 11


def test_no_anomaly_when_every_read_has_it():
    b = Builder()
    b.op(0, "add", 1, t0=0, t1=1)
    b.op(2, "read", t0=3, t1=4, output=[1])
    final(b, [1])
    r = sets.check(b.history())
    assert r.anomalies == [] and r.stats["ok"] == 1
    assert r.details["stable_latency_ms"]["p50"] == 2.0


def test_lost():
    b = Builder()
    b.op(0, "add", 1, t0=0, t1=1)
    b.op(1, "add", 2, t0=0, t1=1)
    b.op(2, "read", t0=3, t1=4, output=[1, 2])
    final(b, [2])
    r = sets.check(b.history())
    assert r.valid is False
    [a] = r.anomalies
    assert a["type"] == "lost" and a["element"] == 1 and a["ops"][:2] == [0, 4]


def test_lost_without_final_reads_uses_the_last_read():
    b = Builder()
    b.op(0, "add", 1, t0=0, t1=1)
    b.op(2, "read", t0=3, t1=4, output=[1])
    b.op(2, "read", t0=5, t1=6, output=[])
    assert [a["type"] for a in sets.check(b.history()).anomalies] == ["lost"]


def test_unexpected_and_failed_add_read():
    b = Builder()
    b.op(0, "add", 1, t0=0, t1=1, type="fail")
    b.op(2, "read", t0=3, t1=4, output=[1, 9])
    final(b, [1, 9])
    r = sets.check(b.history())
    assert sorted(a["element"] for a in r.anomalies if a["type"] == "unexpected") == [1, 9]
    assert r.valid is False and r.stats["unexpected"] == 2


def test_recovered_never_read_and_indeterminate():
    b = Builder()
    b.op(0, "add", 1, t0=0, t1=1, type="info")
    b.op(1, "add", 2, t0=0, t1=1, type="info")
    b.op(2, "read", t0=3, t1=4, output=[1])
    b.op(3, "add", 3, t0=5, t1=6)
    r = sets.check(b.history())
    assert r.valid is True and r.anomalies == []
    assert r.details["recovered"] == [1] and r.details["never_read"] == [3]
    assert r.stats["indeterminate"] == 1


def test_not_converged():
    b = Builder()
    b.op(0, "add", 1, t0=0, t1=1)
    final(b, [1], nodes=("n1",))
    final(b, [], t=110, nodes=("n2",))
    r = sets.check(b.history())
    assert [a["type"] for a in r.anomalies] == ["not-converged"]
