"""staleness: k-staleness and t-visibility of eventual reads, beside the PBS prediction."""

import pytest
from eventual_histories import Builder

from splitbrain.checkers import pbs, staleness


def writes(b: Builder):
    for i, (t0, t1) in enumerate([(0, 1), (2, 3), (4, 5)], start=1):
        b.op(0, "write", i, t0=t0, t1=t1, meta={"version": i})


def test_fresh_reads_have_no_staleness():
    b = Builder()
    writes(b)
    b.op(1, "read", t0=10, t1=11, output=3, consistency="eventual", meta={"version": 3})
    r = staleness.check(b.history())
    assert r.anomalies == [] and r.details["k_staleness"]["histogram"] == {"0": 1}
    assert r.details["t_visibility"] == [{"t_ms_from": 5, "t_ms_to": 10, "reads": 1,
                                          "fresh": 1, "p_visible": 1.0}]


def test_stale_read_counts_versions_behind():
    b = Builder()
    writes(b)
    b.op(1, "read", t0=10, t1=11, output=1, consistency="eventual", meta={"version": 1})
    b.op(1, "read", t0=12, t1=13, output=None, consistency="eventual", meta={"version": 0})
    b.op(2, "read", t0=12, t1=13, output=1, consistency="strong", meta={"version": 1})
    b.op(1, "read", t0=14, t1=15, output=3, consistency="eventual", meta={"version": 3})
    r = staleness.check(b.history())
    assert [a["k"] for a in r.anomalies] == [2, 3]  # the strong read is not measured
    a = r.anomalies[0]
    assert a["type"] == "stale-read" and a["t_ms"] == 5.0 and a["newest_version"] == 3
    assert r.details["k_staleness"]["histogram"] == {"0": 1, "2": 1, "3": 1}
    assert r.details["k_staleness"]["p_at_least"] == [1.0, pytest.approx(2 / 3, abs=1e-5),
                                                      pytest.approx(2 / 3, abs=1e-5),
                                                      pytest.approx(1 / 3, abs=1e-5)]
    assert r.stats["stale_reads"] == 2 and r.stats["max_k"] == 3


def test_lww_versions_by_timestamp_and_value_lookup():
    b = Builder()
    b.op(0, "write", "a", t0=0, t1=1, meta={"ts": 5.0})
    b.op(0, "write", "b", t0=2, t1=3, meta={"ts": 4.0})  # lower ts: not newer
    b.op(1, "read", t0=4, t1=5, output="a")  # no ts on the read: looked up by value
    r = staleness.check(b.history())
    assert r.anomalies == [] and r.stats["reads"] == 1


def test_prediction_beside_measurement():
    b = Builder()
    writes(b)
    b.op(1, "read", t0=10, t1=12, output=1, consistency="eventual", meta={"version": 1})
    r = staleness.check(b.history(), n=3, r=1, w=2, trials=200)
    p = r.details["pbs"]
    assert p["k_staleness_p_at_least"] == [1.0, pytest.approx(1 / 3, abs=1e-5),
                                           pytest.approx(1 / 9, abs=1e-5)]
    assert "closed form" in p["k_staleness_method"] and "Monte Carlo" in p["t_visibility_method"]
    assert len(p["t_visibility"]) == len(r.details["t_visibility"]) == 1


def test_pbs_closed_form_and_monte_carlo():
    assert pbs.k_staleness(3, 2, 2, 2) == [1.0, 0.0, 0.0]  # R + W > N: never stale
    lat = [1e6 * x for x in (0.1, 0.5, 1, 2, 5, 10)]
    assert pbs.t_visibility(3, 2, 2, lat, [0.0], trials=300) == [1.0]
    p0, p_late = pbs.t_visibility(3, 1, 1, lat, [0.0, 1e8], trials=2000)
    assert p0 < 0.95 and p_late == 1.0
