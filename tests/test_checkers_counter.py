"""counter: every read within [certain, possible]."""

import pytest
from eventual_histories import Builder

from splitbrain.checkers import counter


def hist(read_value, *, delta2=3, type2="ok"):
    b = Builder()
    b.op(0, "add", 2, t0=0, t1=1)
    b.op(1, "add", delta2, t0=2, t1=6, type=type2)  # overlaps the read
    b.op(2, "read", t0=3, t1=4, output=read_value, consistency="eventual")
    return b.history()


@pytest.mark.parametrize("value", [2, 5])
def test_within_bounds(value):
    r = counter.check(hist(value))
    assert r.valid is True and r.anomalies == []


def test_too_low():
    r = counter.check(hist(1))
    [a] = r.anomalies
    assert a["type"] == "counter-too-low" and a["lower"] == 2 and a["upper"] == 5
    assert a["consistency"] == "eventual" and r.valid is False


def test_too_high_and_failed_adds_do_not_count():
    [a] = counter.check(hist(5, type2="fail")).anomalies
    assert a["type"] == "counter-too-high" and a["upper"] == 2


def test_negative_possible_delta_lowers_the_bound():
    assert counter.check(hist(-1, delta2=-3)).anomalies == []
    assert counter.check(hist(-2, delta2=-3)).anomalies[0]["type"] == "counter-too-low"


def test_absent_counter_reads_initial():
    b = Builder()
    b.op(0, "read", t0=0, t1=1, output=None)
    assert counter.check(b.history()).anomalies == []
    assert counter.check(b.history(), initial=4).anomalies == []
