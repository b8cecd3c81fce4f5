"""The history contract: writing, reading back, pairing and the loader's validation."""

import math

import pytest

from splitbrain.history import Event, HistoryError, HistoryWriter, parse_jsonl, read_jsonl


def test_write_read_pair_roundtrip(tmp_path):
    path = tmp_path / "history.jsonl"
    with HistoryWriter(path) as w:
        w.append(Event("invoke", 0, "write", 1, time=10, key="k", node="n1"))
        w.append(Event("invoke", 1, "read", None, time=11, key="k", consistency="strong"))
        w.append(Event("ok", 0, "write", 1, time=20, key="k", node="n1"))
        w.append(Event("info", 1, "read", None, time=30, key="k", error="timeout"))
        w.append(Event("info", "nemesis", "start-partition", ["n1"], time=31))
        w.append(Event("info", "nemesis", "start-partition", {"cut": [["n1", "n2"]]}, time=32))
    h = read_jsonl(path)
    assert [e.index for e in h] == list(range(6))
    write, read = h.ops()
    assert (write.f, write.type, write.call, write.ret, write.output) == ("write", "ok", 10, 20, 1)
    assert read.type == "info" and read.ret == math.inf and read.error == "timeout"
    assert read.consistency == "strong"
    [nem] = h.nemesis_ops()
    assert nem.value == ["n1"] and nem.output == {"cut": [["n1", "n2"]]} and nem.ret == 32


@pytest.mark.parametrize("text, rule", [
    ('{"type":"ok","process":0,"f":"read","time":1}', "has no open invocation"),
    ('{"type":"invoke","process":0,"f":"read","time":1}\n'
     '{"type":"invoke","process":0,"f":"read","time":2}', "still open"),
    ('{"type":"invoke","process":0,"f":"read","time":5}\n'
     '{"type":"ok","process":0,"f":"read","time":2}', "time goes backwards"),
    ('{"type":"bogus","process":0,"f":"read","time":1}', "unknown event type"),
    ('{"type":"invoke","process":0,"f":"read","time":1}\n{"type":"ok","proc', "not valid JSON"),
    ('{"type":"invoke","process":0,"f":"read","time":1}\n'
     '{"type":"ok","process":0,"f":"write","time":2}', "does not match"),
    ("", "holds no events"),
    ('{"type":"invoke","process":[1],"f":"read","time":1}', "neither an integer client id"),
    ('{"type":"invoke","process":true,"f":"read","time":1}', "neither an integer client id"),
    ('{"type":"invoke","process":0,"f":["read"],"time":1}', "is not a string"),
    ('{"type":"invoke","process":0,"f":"read","time":NaN}', "not a number of nanoseconds"),
])
def test_loader_names_line_and_rule(text, rule):
    with pytest.raises(HistoryError, match=rule) as e:
        parse_jsonl(text, path="h.jsonl")
    assert str(e.value).startswith("h.jsonl")


def test_binary_file_is_rejected(tmp_path):
    p = tmp_path / "garbage.jsonl"
    p.write_bytes(b"\x00\x01\xff")
    with pytest.raises(HistoryError, match="binary"):
        read_jsonl(p)
