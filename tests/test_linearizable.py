"""The linearizability checker on hand-built histories: models, options, crashed and failed ops,
per-key verdicts, explanations, budgets, and a 100,000-op unique-value register."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from splitbrain.checkers.linearizable import check
from splitbrain.errors import BadInput
from splitbrain.history import Event, History, validate


def H(*rows) -> History:
    """Rows of (type, process, f, value[, key[, consistency]])."""
    events = [Event(r[0], r[1], r[2], r[3], time=i, key=r[4] if len(r) > 4 else None,
                    consistency=r[5] if len(r) > 5 else None) for i, r in enumerate(rows)]
    return History(validate(events))


def test_concurrent_write_and_stale_read_explained():
    h = H(("invoke", 0, "write", 0), ("ok", 0, "write", 0),
          ("invoke", 1, "read", None), ("invoke", 2, "write", 4),
          ("ok", 1, "read", 3), ("ok", 2, "write", 4))
    r = check(h, "register")
    assert r.valid is False and r.checker == "linearizable"
    [a] = r.anomalies
    assert a["op"] == 2 and a["ops"] == [2, 3]
    assert a["linearization"] == [{"op": 0, "state": "0"}, {"op": 3, "state": "4"}]
    assert a["last_state"] == "4"
    why = {c["op"]: c["why"] for c in a["candidates"]}
    assert why[2] == "read 3, but the register held 0 or 4"
    assert "read -> 3 (op 2) cannot be linearized: read 3, but the register held 0 or 4" \
        in a["explanation"]


def test_crashed_write_may_take_effect_late_or_never():
    base = [("invoke", 0, "write", 1), ("info", 0, "write", None),
            ("invoke", 1, "read", None), ("ok", 1, "read", None)]
    assert check(H(*base), "register").valid is True  # never (yet)
    late = base + [("invoke", 1, "read", None), ("ok", 1, "read", 1),
                   ("invoke", 1, "read", None), ("ok", 1, "read", 1)]
    assert check(H(*late), "register").valid is True
    back = late + [("invoke", 1, "read", None), ("ok", 1, "read", None)]
    assert check(H(*back), "register").valid is False


def test_failed_ops_never_happened():
    h = H(("invoke", 0, "write", 1), ("fail", 0, "write", 1),
          ("invoke", 1, "read", None), ("ok", 1, "read", 1))
    assert check(h, "register").valid is False


def test_cas_register_with_initial_and_nil_reads():
    h = H(("invoke", 0, "cas", [0, 5]), ("ok", 0, "cas", [0, 5]),
          ("invoke", 1, "read", None), ("ok", 1, "read", None),
          ("invoke", 1, "read", None), ("ok", 1, "read", 5))
    assert check(h, "cas-register").valid is False
    assert check(h, "cas-register", initial=0).valid is False
    assert check(h, "cas-register", initial=0, nil_reads="unconstrained").valid is True


def test_every_key_decided_with_per_key_details():
    h = H(("invoke", 0, "write", 1, "a"), ("ok", 0, "write", 1, "a"),
          ("invoke", 0, "read", None, "a"), ("ok", 0, "read", 2, "a"),
          ("invoke", 0, "write", 1, "b"), ("ok", 0, "write", 1, "b"),
          ("invoke", 0, "read", None, "b"), ("ok", 0, "read", 1, "b"),
          ("invoke", 0, "read", None, "c"), ("ok", 0, "read", 3, "c"))
    r = check(h, "cas-register")
    assert r.valid is False
    assert {k: v["valid"] for k, v in r.details["keys"].items()} == \
        {'"a"': False, '"b"': True, '"c"': False}
    assert sorted(a["key"] for a in r.anomalies) == ["a", "c"]
    assert r.details["model"] == "cas-register" and r.details["keys"]['"b"']["ops"] == 2


def test_strong_consistency_ignores_eventual_reads():
    h = H(("invoke", 0, "write", 1, "k"), ("ok", 0, "write", 1, "k"),
          ("invoke", 1, "read", None, "k", "eventual"), ("ok", 1, "read", None, "k", "eventual"),
          ("invoke", 1, "read", None, "k", "strong"), ("ok", 1, "read", 1, "k", "strong"))
    assert check(h, "cas-register").valid is False
    assert check(h, "cas-register", consistency="strong").valid is True


@pytest.mark.parametrize("model, rows, valid", [
    ("set", [("invoke", 0, "add", 1), ("ok", 0, "add", 1),
             ("invoke", 1, "read", None), ("ok", 1, "read", [1])], True),
    ("set", [("invoke", 0, "add", 1), ("ok", 0, "add", 1),
             ("invoke", 1, "read", None), ("ok", 1, "read", [])], False),
    ("counter", [("invoke", 0, "add", 2), ("invoke", 1, "increment", None),
                 ("ok", 0, "add", 2), ("ok", 1, "increment", None),
                 ("invoke", 2, "read", None), ("ok", 2, "read", 3)], True),
    ("counter", [("invoke", 0, "add", 2), ("ok", 0, "add", 2),
                 ("invoke", 2, "read", None), ("ok", 2, "read", 1)], False),
    ("queue", [("invoke", 0, "enqueue", 1), ("invoke", 1, "enqueue", 2),
               ("ok", 0, "enqueue", 1), ("ok", 1, "enqueue", 2),
               ("invoke", 2, "dequeue", None), ("ok", 2, "dequeue", 2),
               ("invoke", 2, "dequeue", None), ("ok", 2, "dequeue", 1)], True),
    ("fifo", [("invoke", 0, "enqueue", 1), ("ok", 0, "enqueue", 1),
              ("invoke", 1, "enqueue", 2), ("ok", 1, "enqueue", 2),
              ("invoke", 2, "dequeue", None), ("ok", 2, "dequeue", 2)], False),
    ("mutex", [("invoke", 0, "acquire", None), ("ok", 0, "acquire", None),
               ("invoke", 1, "acquire", None), ("ok", 1, "acquire", None)], False),
    ("mutex", [("invoke", 0, "acquire", None), ("ok", 0, "acquire", None),
               ("invoke", 1, "acquire", None), ("invoke", 0, "release", None),
               ("ok", 0, "release", None), ("ok", 1, "acquire", None)], True),
    ("kv-append", [("invoke", 0, "append", "a", "k"), ("invoke", 1, "append", "b", "k"),
                   ("ok", 0, "append", "a", "k"), ("ok", 1, "append", "b", "k"),
                   ("invoke", 2, "get", None, "k"), ("ok", 2, "get", "ba", "k")], True),
    ("kv-append", [("invoke", 0, "append", "a", "k"), ("ok", 0, "append", "a", "k"),
                   ("invoke", 1, "append", "b", "k"), ("ok", 1, "append", "b", "k"),
                   ("invoke", 2, "get", None, "k"), ("ok", 2, "get", "ba", "k")], False),
])
def test_models(model, rows, valid):
    assert check(H(*rows), model).valid is valid


def test_unknown_model_or_op_is_bad_input():
    h = H(("invoke", 0, "enqueue", 1), ("ok", 0, "enqueue", 1))
    with pytest.raises(BadInput, match="no operation 'enqueue'"):
        check(h, "register")
    with pytest.raises(BadInput, match="unknown model"):
        check(h, "btree")


@pytest.mark.parametrize("model, rows, initial, rule", [
    ("set", [("invoke", 0, "read", None), ("ok", 0, "read", 1)], None, "a set read returns"),
    ("set", [("invoke", 0, "add", 1), ("ok", 0, "add", 1)], 3, "is not a list"),
    ("counter", [("invoke", 0, "add", "x"), ("ok", 0, "add", "x")], None, "adds numbers"),
    ("counter", [("invoke", 0, "add", 1), ("ok", 0, "add", 1)], "x", "is not a number"),
    ("kv-append", [("invoke", 0, "append", 1), ("ok", 0, "append", 1)], None, "takes a string"),
    ("kv-append", [("invoke", 0, "append", "a"), ("ok", 0, "append", "a")], 5, "not a string"),
    ("queue", [("invoke", 0, "enqueue", 1), ("ok", 0, "enqueue", 1)], 3, "is not a list"),
    ("multi-register", [("invoke", 0, "txn", [["r", "x", None]]), ("ok", 0, "txn", [["x"]])],
     None, "a multi-register txn is a list of"),
    ("multi-register", [("invoke", 0, "txn", [["cas", "x", [1, 2]]]),
                        ("info", 0, "txn", None)], None, "a multi-register txn is a list of"),
    ("multi-register", [("invoke", 0, "txn", [["w", "x", 1]]), ("ok", 0, "txn", [["w", "x", 1]])],
     3, "is not a map"),
])
def test_values_a_model_cannot_hold_are_bad_input(model, rows, initial, rule):
    with pytest.raises(BadInput, match=rule):
        check(H(*rows), model, initial=initial)


def test_a_map_never_equals_the_list_of_its_pairs():
    wrote_map = [("invoke", 0, "write", {"a": 1}), ("ok", 0, "write", {"a": 1}),
                 ("invoke", 0, "read", None)]
    assert check(H(*wrote_map, ("ok", 0, "read", {"a": 1})), "register").valid is True
    assert check(H(*wrote_map, ("ok", 0, "read", [["a", 1]])), "register").valid is False


def test_time_limit_gives_unknown_with_reason():
    rows = [("invoke", p, "write", p % 3) for p in range(12)]
    rows += [("ok", p, "write", p % 3) for p in range(12)]
    rows += [("invoke", 20 + p, "write", p % 3) for p in range(12)]
    rows += [("invoke", 99, "read", None), ("ok", 99, "read", 7)]
    r = check(H(*rows), "register", time_limit=1e-9)
    assert r.valid == "unknown" and "time limit" in r.reason


def unique_register_history(n_ops: int, stale_at: int | None = None, seed: int = 7, *,
                            processes: int = 5, crashed: float = 0.0,
                            initial: int | None = None) -> History:
    """``n_ops`` ops from ``processes`` workers over one register, every written value unique.
    With ``stale_at``, after that many ops the open ops complete, a write completes, and then a
    read returns the value before that write: a stale read. With ``crashed``, that fraction of
    the writes ends ``info`` without taking effect (the worker goes on as a new process, as in
    Jepsen). Reads before the first write return ``initial``."""
    rng = random.Random(seed)
    events, open_ops, value, current = [], {}, 0, initial
    process = list(range(processes))  # the current process id of each worker

    def complete(w):
        nonlocal current
        f, v = open_ops.pop(w)
        if f == "write" and crashed and rng.random() < crashed:
            events.append(Event("info", process[w], f, None, error="timeout"))
            process[w] += processes
            return
        if f == "write":
            current = v
        events.append(Event("ok", process[w], f, v if f == "write" else current))

    for done in range(n_ops):
        if done == stale_at:
            for w in sorted(open_ops):
                complete(w)
            old, value = current, value + 1
            events += [Event("invoke", process[0], "write", value),
                       Event("ok", process[0], "write", value),
                       Event("invoke", process[1], "read", None),
                       Event("ok", process[1], "read", old)]
            current = value
        while len(open_ops) == processes or (open_ops and rng.random() < 0.5):
            complete(rng.choice(sorted(open_ops)))
        w = rng.choice([q for q in range(processes) if q not in open_ops])
        if rng.random() < 0.5:
            value += 1
            open_ops[w] = ("write", value)
            events.append(Event("invoke", process[w], "write", value))
        else:
            open_ops[w] = ("read", None)
            events.append(Event("invoke", process[w], "read", None))
    for w in sorted(open_ops):
        complete(w)
    for i, ev in enumerate(events):
        ev.time = i
    return History(validate(events))


def test_100k_unique_register_valid_and_with_a_stale_read():
    good = unique_register_history(100_000)
    started = time.monotonic()
    r = check(good, "register")
    assert r.valid is True, r.anomalies
    assert r.details["keys"]["null"]["decider"] == "unique-values"
    assert time.monotonic() - started < 10

    bad = unique_register_history(100_000, stale_at=50_000)
    started = time.monotonic()
    r = check(bad, "register")
    assert r.valid is False
    assert time.monotonic() - started < 10
    [a] = r.anomalies
    stale = bad.events[a["op"]]
    assert stale.f == "read" and a["op"] in a["ops"]
    assert "began after write" in a["explanation"] and "came before" in a["explanation"]


PEAK_CHILD = """
import re
from splitbrain.checkers.linearizable import check
from test_linearizable import unique_register_history
def peak_kib():
    with open("/proc/self/status") as f:
        return int(re.search(r"VmHWM:\\s+(\\d+) kB", f.read()).group(1))
before = peak_kib()
for stale_at in (None, 50_000):
    check(unique_register_history(100_000, stale_at=stale_at), "register")
print(peak_kib() - before)
"""


@pytest.mark.integration
def test_100k_unique_register_check_peaks_under_1_gib_measured_in_its_own_process():
    """A peak RSS is a high-water mark: in the test process, any earlier test that peaked higher
    would hide this one's growth. So a child process measures its own (VmHWM, which exec
    resets; ru_maxrss would not be: a child inherits its parent's)."""
    p = subprocess.run([sys.executable, "-c", PEAK_CHILD], cwd=Path(__file__).parent,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    grown_kib = int(p.stdout)
    assert 0 < grown_kib < 1 << 20, \
        f"building and checking 100,000 ops grew the peak RSS by {grown_kib / 1024:.0f} MiB " \
        f"(bound: 1 GiB)"


def test_memory_limit_gives_unknown_with_reason():
    rows = [("invoke", p, "write", p) for p in range(10)] + [("invoke", 10, "cas", [3, 50])]
    rows += [("ok", p, "write", p) for p in range(10)] + [("ok", 10, "cas", [3, 50])]
    rows += [("invoke", 20 + p, "read", None) for p in range(10)]
    rows += [("ok", 20 + p, "read", p) for p in range(10)]
    history = H(*rows)
    assert check(history, "cas-register", time_limit=60).valid is False
    r = check(history, "cas-register", memory_limit=20_000)
    assert r.valid == "unknown" and "memory limit" in r.reason


@pytest.mark.parametrize("order, twin_list, reason", [
    ([0], [], "order must list"),          # the write's return entry is missing
    ([0, 1, 1], [], "order must list"),    # listed twice
    ([0, 5], [], "order must list"),       # an entry of no op
    ([0, 1], [7], "twin_list holds"),      # a twin that is no op
])
def test_compiled_search_rejects_a_malformed_encoding(order, twin_list, reason):
    # Every index the C search follows is checked first: a bad encoding is a ValueError,
    # never a read or write out of bounds.
    from splitbrain.checkers.linearizable import _wgl
    with pytest.raises(ValueError, match=reason):
        _wgl.search(b"\x02", [0], [0], b"\x01", order, [0, len(twin_list)], twin_list, 0, -1.0, 0)
    assert _wgl.search(b"\x02", [0], [0], b"\x01", [0, 1], [0, 0], [], 0, -1.0, 0)[0] == 1


# Keys and values are JSON values: two keys that print alike in Python are still two keys.
ALIKE = [("1", 1), ("None", None), ("True", True), ("1.5", 1.5), ("(1, 2)", [1, 2]),
         (1, True), ("null", None)]


def _illegal_and_legal(bad_key, good_key):
    return H(("invoke", 0, "write", 1, bad_key), ("ok", 0, "write", 1, bad_key),
             ("invoke", 0, "read", None, bad_key), ("ok", 0, "read", 2, bad_key),
             ("invoke", 1, "write", 3, good_key), ("ok", 1, "write", 3, good_key),
             ("invoke", 1, "read", None, good_key), ("ok", 1, "read", 3, good_key))


@pytest.mark.parametrize("first, second", ALIKE)
@pytest.mark.parametrize("bad_is_first", [True, False])
def test_keys_that_print_alike_keep_their_own_verdicts(first, second, bad_is_first):
    bad, good = (first, second) if bad_is_first else (second, first)
    r = check(_illegal_and_legal(bad, good), "register")
    assert r.valid is False and r.stats["illegal-keys"] == 1 and r.stats["keys"] == 2
    keys = r.details["keys"]
    assert keys[json.dumps(bad)]["valid"] is False
    assert keys[json.dumps(good)]["valid"] is True
    [a] = r.anomalies
    assert a["key"] == bad and type(a["key"]) is type(bad)


@pytest.mark.parametrize("rows, model", [
    ([("invoke", 0, "write", True), ("ok", 0, "write", True),
      ("invoke", 0, "read", None), ("ok", 0, "read", 1)], "register"),
    ([("invoke", 0, "write", 0), ("ok", 0, "write", 0),
      ("invoke", 0, "read", None), ("ok", 0, "read", False)], "register"),
    ([("invoke", 0, "add", 1), ("ok", 0, "add", 1), ("invoke", 0, "add", True),
      ("ok", 0, "add", True), ("invoke", 0, "read", None), ("ok", 0, "read", [1])], "set"),
    ([("invoke", 0, "add", 1), ("ok", 0, "add", 1),
      ("invoke", 0, "read", None), ("ok", 0, "read", True)], "counter"),
    # keys 1 and true are two registers: true was never written
    ([("invoke", 0, "write", 5, 1), ("ok", 0, "write", 5, 1),
      ("invoke", 0, "read", None, True), ("ok", 0, "read", 5, True)], "register"),
])
def test_true_is_not_the_number_1(rows, model):
    r = check(H(*rows), model)
    assert r.valid is False, f"{model}: {rows} judged linearizable; JSON true is not 1"


def test_1_and_1_0_are_one_number_and_one_key():
    """JSON has one number type: 1 and 1.0 are equal values and name the same key."""
    h = H(("invoke", 0, "write", 1, 2), ("ok", 0, "write", 1, 2),
          ("invoke", 0, "read", None, 2.0), ("ok", 0, "read", 1.0, 2.0))
    r = check(h, "register")
    assert r.valid is True and list(r.details["keys"]) == ["2"]


def test_a_key_whose_ops_all_failed_gets_a_verdict():
    h = H(("invoke", 0, "write", 1, "a"), ("ok", 0, "write", 1, "a"),
          ("invoke", 0, "write", 2, "b"), ("fail", 0, "write", 2, "b"))
    keys = check(h, "register").details["keys"]
    assert keys['"b"'] == {"valid": True, "ops": 0, "seconds": keys['"b"']["seconds"],
                           "reason": None, "decider": "unique-values"}


@pytest.mark.parametrize("model", ["cas-register", "kv"])
def test_reads_and_writes_take_the_register_decider_whatever_the_model(model):
    h = unique_register_history(20_000, processes=10, crashed=0.012, initial=0)
    assert sum(ev.type == "info" for ev in h.events) > 50
    r = check(h, model, initial=0)
    assert r.valid is True and r.details["keys"]["null"]["decider"] == "unique-values"


def test_a_failing_window_names_each_op_once(monkeypatch):
    # write 2 lies between the write and a read of 1: the decider names write 2 both as the
    # first and the last member of its cluster.
    import splitbrain.checkers.linearizable.checker as checker

    monkeypatch.setattr(checker, "EXPLAIN_MAX_OPS", 0)  # the decider's own explanation
    h = H(("invoke", 0, "write", 1), ("ok", 0, "write", 1),
          ("invoke", 0, "write", 2), ("ok", 0, "write", 2),
          ("invoke", 0, "read", None), ("ok", 0, "read", 1))
    [a] = check(h, "register").anomalies
    assert a["ops"] == [0, 2, 4]


def test_the_deciders_explanation_names_kv_appends_own_ops(monkeypatch):
    import splitbrain.checkers.linearizable.checker as checker

    monkeypatch.setattr(checker, "EXPLAIN_MAX_OPS", 0)  # the decider's own explanation
    h = H(("invoke", 0, "put", "a"), ("ok", 0, "put", "a"),
          ("invoke", 0, "put", "b"), ("ok", 0, "put", "b"),
          ("invoke", 0, "get", None), ("ok", 0, "get", "a"))
    r = check(h, "kv-append")
    assert r.details["keys"]["null"]["decider"] == "unique-values"
    [a] = r.anomalies
    assert 'put "b" (op 2)' in a["explanation"] and 'get -> "a" (op 4)' in a["explanation"]
