"""siblings: dynamo mode's causal semantics."""

from eventual_histories import Builder

from splitbrain.checkers import siblings


def write(b: Builder, p, v, read, t0, t1, **kw):
    return b.op(p, "write", v, t0=t0, t1=t1, meta={"read": read, "siblings": True}, **kw)


def final(b: Builder, values, t=100, nodes=("n1", "n2", "n3")):
    for i, node in enumerate(nodes):
        b.op(90 + i, "read", t0=t + i, t1=t + i + 0.5, output=values, node=node,
             meta={"final": True, "siblings": True}, inv_meta={"final": True})


def test_concurrent_blind_writes_become_siblings_and_survive():
    b = Builder()
    write(b, 0, 1, [], 0, 2)
    write(b, 1, 2, [], 1, 3)
    b.op(2, "read", t0=4, t1=5, output=[1, 2], meta={"siblings": True})
    write(b, 2, 3, [1, 2], 6, 7)  # the client merges both siblings
    final(b, [3])
    r = siblings.check(b.history())
    assert r.valid is True and r.anomalies == []
    assert r.stats["reads_with_siblings"] == 1 and r.stats["max_siblings"] == 2


def test_lost_write():
    b = Builder()
    write(b, 0, 1, [], 0, 1)
    write(b, 1, 2, [], 2, 3)  # did not read 1: 1 must survive as a sibling
    final(b, [2])
    r = siblings.check(b.history())
    assert r.valid is False
    [a] = r.anomalies
    assert a["type"] == "lost-write" and a["value"] == 1 and a["ops"][0] == 0


def test_covered_write_is_not_lost_and_failed_cover_does_not_count():
    b = Builder()
    write(b, 0, 1, [], 0, 1)
    write(b, 1, 2, [1], 2, 3)  # covered 1
    write(b, 2, 3, [], 4, 5)
    write(b, 3, 4, [3], 6, 7, type="fail")  # a failed write covers nothing
    final(b, [2])
    r = siblings.check(b.history())
    assert [a["value"] for a in r.anomalies] == [3]


def test_context_lookup_when_only_read_context_is_recorded():
    b = Builder()
    write(b, 0, 1, [], 0, 1)
    b.op(1, "read", t0=2, t1=3, output=[1], meta={"siblings": True, "context": "ctx-a"})
    b.op(1, "write", 2, t0=4, t1=5, meta={"read_context": "ctx-a", "siblings": True})
    final(b, [2])
    assert siblings.check(b.history()).anomalies == []


def test_non_concurrent_siblings():
    b = Builder()
    write(b, 0, 1, [], 0, 1)
    write(b, 1, 2, [1], 2, 3)
    b.op(2, "read", t0=4, t1=5, output=[1, 2], meta={"siblings": True})
    final(b, [2])
    r = siblings.check(b.history())
    [a] = r.anomalies
    assert a["type"] == "non-concurrent-siblings" and a["older"] == 1 and a["newer"] == 2


def test_transitive_cover_makes_siblings_non_concurrent():
    b = Builder()
    write(b, 0, 1, [], 0, 1)
    write(b, 1, 2, [1], 2, 3)
    write(b, 2, 3, [2], 4, 5)
    b.op(3, "read", t0=6, t1=7, output=[1, 3], meta={"siblings": True})
    final(b, [3])
    assert [a["type"] for a in siblings.check(b.history()).anomalies] == [
        "non-concurrent-siblings"]


def test_not_converged():
    b = Builder()
    write(b, 0, 1, [], 0, 1)
    write(b, 1, 2, [], 2, 3)
    final(b, [1, 2], nodes=("n1", "n2"))
    final(b, [2, 1], t=110, nodes=("n3",))  # same siblings, other order: converged
    assert siblings.check(b.history()).anomalies == []
    b2 = Builder()
    write(b2, 0, 1, [], 0, 1)
    write(b2, 1, 2, [], 2, 3)
    final(b2, [1, 2], nodes=("n1", "n2"))
    final(b2, [2], t=110, nodes=("n3",))
    r = siblings.check(b2.history())
    assert [a["type"] for a in r.anomalies] == ["not-converged"]


def test_unknown_without_final_reads():
    b = Builder()
    write(b, 0, 1, [], 0, 1)
    assert siblings.check(b.history()).valid == "unknown"
