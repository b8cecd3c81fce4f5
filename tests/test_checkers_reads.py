"""reads: every read returns a value that was written (all modes)."""

from eventual_histories import Builder

from splitbrain.checkers import reads


def base() -> Builder:
    b = Builder()
    b.op(0, "write", 1, t0=0, t1=1)
    return b


def test_read_of_written_value_is_valid():
    b = base()
    b.op(1, "read", t0=2, t1=3, output=1)
    b.op(1, "read", t0=4, t1=5, output=None)  # absent: the initial value
    r = reads.check(b.history())
    assert r.valid is True and r.anomalies == [] and r.stats["reads"] == 2


def test_invented_value():
    b = base()
    b.op(1, "read", t0=2, t1=3, output=[7])
    r = reads.check(b.history())
    assert r.valid is False
    [a] = r.anomalies
    assert a["type"] == "invented-value" and a["value"] == 7 and a["ops"] == [2]
    assert "no write" in a["explanation"]


def test_aborted_read_and_indeterminate_write():
    b = base()
    b.op(2, "write", 2, t0=2, t1=3, type="fail")
    b.op(3, "write", 3, t0=2, t1=3, type="info")
    b.op(1, "read", t0=4, t1=5, output=2)
    b.op(4, "read", t0=6, t1=7, output=3)  # an info write may take effect: fine
    r = reads.check(b.history())
    assert [a["type"] for a in r.anomalies] == ["aborted-read"]
    assert r.anomalies[0]["value"] == 2


def test_future_read():
    b = Builder()
    b.op(1, "read", t0=0, t1=1, output=5)
    b.op(0, "write", 5, t0=2, t1=3)
    r = reads.check(b.history())
    assert [a["type"] for a in r.anomalies] == ["future-read"]


def test_keys_are_independent():
    b = base()
    b.op(1, "read", t0=2, t1=3, output=1, key="other")
    assert reads.check(b.history()).anomalies[0]["type"] == "invented-value"
