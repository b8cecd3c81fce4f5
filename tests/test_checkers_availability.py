"""availability: ok fraction under each fault kind versus none."""

from eventual_histories import Builder

from splitbrain.checkers import availability


def test_by_fault_kind():
    b = Builder()
    b.op(0, "read", t0=0, t1=1, output=None)
    b.nemesis("start-partition", 2, 2.5, value={"n1": ["n2"]})
    b.op(0, "read", t0=3, t1=4, type="fail")
    b.nemesis("kill", 5, 5.5, value=["n3"])
    b.op(0, "write", 1, t0=6, t1=7)
    b.nemesis("stop-partition", 8, 8.5)
    b.op(0, "write", 2, t0=9, t1=10, type="info")
    b.nemesis("restart", 11, 11.5, value=["n3"])
    b.op(1, "read", t0=12, t1=13, output=1)
    b.op(1, "read", t0=14, t1=15, output=1, meta={"final": True}, inv_meta={"final": True})
    r = availability.check(b.history())
    t = r.stats["by_fault"]
    assert t["none"] == {"ops": 2, "ok": 2, "fail": 0, "info": 0, "answered": 2,
                         "ok_fraction": 1.0, "available": 1.0}
    assert t["partition"]["ops"] == 2 and t["partition"]["ok_fraction"] == 0.5
    assert t["kill"] == {"ops": 2, "ok": 1, "fail": 0, "info": 1, "answered": 1,
                         "ok_fraction": 0.5, "available": 0.5}
    assert r.details["by_fault_and_f"]["partition"]["read"] == {"ops": 1, "ok": 0,
                                                                "ok_fraction": 0.0}


def test_stop_naming_a_node_ends_only_its_fault():
    b = Builder()
    b.nemesis("kill", 0, 0.5, value=["n1"])
    b.nemesis("kill", 1, 1.5, value=["n2"])
    b.nemesis("restart", 2, 2.5, value=["n1"])
    b.op(0, "read", t0=3, t1=4, output=None)
    b.nemesis("restart", 5, 5.5, value=["n2"])
    b.op(0, "read", t0=6, t1=7, output=None)
    t = availability.check(b.history()).stats["by_fault"]
    assert t["kill"]["ops"] == 1 and t["none"]["ops"] == 1


def test_heal_ends_every_fault():
    b = Builder()
    b.nemesis("start-partition", 0, 0.5, value={"n1": ["n2"]})
    b.nemesis("pause", 1, 1.5, value=["n3"])
    b.op(0, "read", t0=2, t1=3, type="fail")
    b.nemesis("heal", 4, 4.5, value={})
    b.op(0, "read", t0=5, t1=6, output=None)
    t = availability.check(b.history()).stats["by_fault"]
    assert t["partition"]["ok_fraction"] == 0.0 and t["pause"]["ops"] == 1
    assert t["none"] == {"ops": 1, "ok": 1, "fail": 0, "info": 0, "answered": 1,
                         "ok_fraction": 1.0, "available": 1.0}


def test_a_false_condition_is_an_answer_not_a_refusal():
    b = Builder()
    b.op(0, "cas", [1, 2], t0=0, t1=1, type="fail", error="condition-failed")
    b.op(0, "cas", [1, 2], t0=2, t1=3, type="fail", error="unavailable")
    b.op(0, "write", 3, t0=4, t1=5)
    row = availability.check(b.history()).stats["by_fault"]["none"]
    assert row["ok_fraction"] == round(1 / 3, 6)
    assert row["answered"] == 2 and row["available"] == round(2 / 3, 6)
