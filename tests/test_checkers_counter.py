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


def with_finals(*values, strong_read=None):
    """Adds of 2 and 3 (acknowledged), then one final read per value, on n1, n2, ..."""
    b = Builder()
    b.op(0, "add", 2, t0=0, t1=1)
    b.op(1, "add", 3, t0=2, t1=3)
    if strong_read is not None:
        b.op(2, "read", t0=4, t1=5, output=strong_read, consistency="strong")
    for i, v in enumerate(values):
        b.op(9, "read", t0=10 + i, t1=10.5 + i, output=v, node=f"n{i + 1}",
             consistency="eventual", meta={"final": True}, inv_meta={"final": True})
    return b.history()


def test_final_reads_that_all_miss_acknowledged_adds_are_a_lost_add():
    r = counter.check(with_finals(2, 2))
    [a] = r.anomalies
    assert a["type"] == "lost-add" and a["lower"] == 5 and a["value"] == 2
    assert a["nodes"] == {"n1": 2, "n2": 2} and r.valid is False
    assert "acknowledged increments of at least 3 are lost" in a["explanation"]


def test_one_final_read_with_every_add_is_no_lost_add():
    # A lagging replica is a convergence failure (the convergence checker's), not a loss.
    assert counter.check(with_finals(2, 5)).anomalies == []
    assert counter.check(with_finals(5, 5)).anomalies == []


def test_a_low_strong_read_before_the_final_reads_is_still_counter_too_low():
    [a] = counter.check(with_finals(5, strong_read=2)).anomalies
    assert a["type"] == "counter-too-low" and a["consistency"] == "strong"


def test_a_low_read_that_no_later_read_makes_good_names_the_lost_adds():
    h = with_finals(2, 2, strong_read=2)
    r = counter.check(h)
    lost = [a for a in r.anomalies if a["type"] == "counter-lost-adds"]
    assert [a["ops"] for a in lost] == [[4]]
    assert lost[0]["explanation"] == (
        "Read of counter 'k' (op 4) returned 2, but adds acknowledged before it began already "
        "sum to at least 5; the final reads after healing still miss at least 3: acknowledged "
        "increments of at least 3 were lost, not merely unseen.")


def test_the_verdict_blames_lost_adds_on_the_adds_promise_not_on_linearizability():
    from splitbrain.checkers import policy

    v = policy.judge(with_finals(2, 2, strong_read=2), "dynamodb", "counter")
    assert v.details["violated"] == ["acknowledged atomic adds are never lost"]
    [a] = [a for a in v.anomalies if a["type"] == "counter-lost-adds"]
    assert a["promise"] == "acknowledged atomic adds are never lost"
    stale = policy.judge(with_finals(5, strong_read=2), "dynamodb", "counter")
    assert stale.details["violated"] == ["strong reads and conditional writes are linearizable"]
