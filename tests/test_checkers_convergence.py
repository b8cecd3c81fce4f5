"""convergence: every node's final read of a key returns the same state after healing."""

from eventual_histories import Builder

from splitbrain.checkers import convergence


def finals(*answers, version=None):
    """A write of 1 and 2, then one final eventual read per answer ``(node, value, replica)``,
    ``replica`` the ``meta.replica`` the node reported (or None)."""
    b = Builder()
    b.op(0, "write", 1, t0=0, t1=1, meta={"version": 1})
    b.op(0, "write", 2, t0=2, t1=3, meta={"version": 2})
    for i, (node, value, replica) in enumerate(answers):
        m = {"final": True, "version": version if version is not None else value}
        if replica is not None:
            m["replica"] = replica
        b.op(9, "read", t0=10 + i, t1=10.5 + i, output=value, node=node,
             consistency="eventual", meta=m, inv_meta={"final": True})
    return b.history()


def replica(name, applied, partition=3):
    return {"name": name, "partition": partition, "applied": applied}


def test_agreeing_replicas_are_valid():
    r = convergence.check(finals(("n1", 2, replica("n1", 9)), ("n2", 2, replica("n2", 9)),
                                 ("n4", 2, replica("n1", 9))))
    assert r.valid is True and r.stats["keys_judged"] == 1


def test_replicas_at_the_same_applied_index_with_different_values_diverged():
    r = convergence.check(finals(("n1", 2, replica("n1", 9)), ("n2", 1, replica("n2", 9))))
    [a] = r.anomalies
    assert r.valid is False and a["type"] == "not-converged"
    assert a["key"] == "k" and a["partition"] == 3 and a["replicas"] == {"n1": 9, "n2": 9}
    assert a["nodes"] == {"n1": [2], "n2": [1]}
    assert "partition 3" in a["explanation"] and "diverged" in a["explanation"]
    assert "replica n2, 9 entries applied, returned 1" in a["explanation"]


def test_a_replica_that_never_caught_up_is_named_as_such():
    r = convergence.check(finals(("n1", 2, replica("n1", 9)), ("n3", 1, replica("n3", 7)),
                                 ("n5", 1, replica("n3", 7))))
    [a] = r.anomalies
    assert a["replicas"] == {"n1": 9, "n3": 7}
    assert "replica n3 (via n5)" in a["explanation"]
    assert "had not caught up" in a["explanation"]


def test_equal_values_at_different_versions_differ_and_plain_reads_compare_by_value():
    assert convergence.check(finals(("n1", 2, None), ("n2", 2, None))).valid is True
    h = finals(("n1", 2, None), ("n2", 1, None))
    [a] = convergence.check(h).anomalies
    assert "partition" not in a and a["nodes"] == {"n1": [2], "n2": [1]}
    b = Builder()
    for i, v in enumerate((3, 7)):
        b.op(9, "read", t0=i, t1=i + 0.5, output=5, node=f"n{i}", meta={"final": True,
             "version": v}, inv_meta={"final": True})
    assert convergence.check(b.history()).valid is False


def test_no_final_read_is_unknown_not_valid():
    b = Builder()
    b.op(0, "read", t0=0, t1=1, output=None)
    r = convergence.check(b.history())
    assert r.valid == "unknown" and "no key has a final read" in r.reason


def test_every_replica_holding_an_older_version_than_an_acknowledged_write_lost_it():
    [a] = convergence.check(finals(("n1", 1, replica("n1", 9)), ("n2", 1, replica("n2", 9)),
                                   version=1)).anomalies
    assert a["type"] == "lost-version" and a["value"] == 2 and a["version"] == 2
    assert a["final_version"] == 1 and "the write is lost" in a["explanation"]
    # One replica with the write: not lost (the replicas disagree instead).
    h = finals(("n1", 2, replica("n1", 9)), ("n2", 1, replica("n2", 9)))
    assert [a["type"] for a in convergence.check(h).anomalies] == ["not-converged"]
