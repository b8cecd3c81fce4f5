"""Property tests: the checker (pruning, rewrites, twins, deciders, search) agrees with a
brute-force reference on random small concurrent histories, valid and invalid."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from splitbrain.checkers.linearizable import Model, check, make_model
from splitbrain.checkers.linearizable.deciders import decide
from splitbrain.checkers.linearizable.prune import prune
from splitbrain.checkers.linearizable.search import Budget, search
from splitbrain.history import Event, History, validate


def brute_force(history: History | list, model_name: str | Model, **options) -> bool:
    """Try every order of the ops (a history's, or a list of ops) that respects real time;
    crashed ops may be left out."""
    model = make_model(model_name, **options)
    ops = [op for op in (history.ops() if isinstance(history, History) else history)
           if op.type != "fail"]
    ret = [op.completion_index if op.type == "ok" else float("inf") for op in ops]

    def go(state, left: frozenset) -> bool:
        if all(ops[i].type == "info" for i in left):
            return True
        for i in left:
            if any(ret[j] < ops[i].index for j in left if j != i):
                continue  # some op still left returned before i was called
            new = model.step(state, ops[i])
            if new is not None and go(new, left - {i}):
                return True
        return False

    return go(model.init(), frozenset(range(len(ops))))


# Keys and values that Python's == or str() would confuse, though JSON tells them apart.
ALIKE_KEYS = [1, "1", True, None, "None", "true", 1.5, "1.5", [1, 2], "(1, 2)"]
ALIKE_VALUES = [1, "1", True, 0, False, None, "null", 1.5, "1.5"]


@st.composite
def histories(draw, model_name: str, unique: bool = False, max_ops: int = 7,
              alike: bool = False):
    """A random history of up to ``max_ops`` ops from up to 3 processes. With ``alike``, each
    op gets a key from ALIKE_KEYS and values come from ALIKE_VALUES."""
    n = draw(st.integers(1, max_ops))
    values = iter(range(1, 100))
    events, open_ops, next_process, keys = [], {}, 0, {}
    for _ in range(2 * n + 4):
        if open_ops and (len(events) >= 2 * n or draw(st.booleans())):
            p = draw(st.sampled_from(sorted(open_ops)))
            f, value = open_ops.pop(p)
            kind = draw(st.sampled_from(["ok", "ok", "ok", "info", "fail"]))
            if kind == "ok" and f in ("read", "get"):
                value = _alike_read(draw, model_name) if alike else \
                    _read_value(draw, model_name)
            events.append(Event(kind, p, f, value if kind != "info" else None, key=keys.get(p)))
            if kind == "info":
                next_process += 1
        elif len(events) < 2 * n and len(open_ops) < 3:
            p = next_process + draw(st.integers(0, 2))
            if p in open_ops:
                continue
            f, value = _invoke(draw, model_name, values if unique else None)
            if alike:
                keys[p] = draw(st.sampled_from(ALIKE_KEYS))
                value = None if f == "read" else draw(st.sampled_from(ALIKE_VALUES))
            open_ops[p] = (f, value)
            events.append(Event("invoke", p, f, value, key=keys.get(p)))
    for i, ev in enumerate(events):
        ev.time = i
    return History(validate(events))


def _alike_read(draw, model_name):
    if model_name == "set":
        return draw(st.lists(st.sampled_from(ALIKE_VALUES), max_size=3,
                             unique_by=lambda v: json.dumps(v)))
    return draw(st.sampled_from(ALIKE_VALUES))


def _read_value(draw, model_name):
    if model_name == "kv-append":
        return draw(st.sampled_from(["", "a", "ab", "ba", "b", "abc", "ac", "c"]))
    if model_name == "set":
        return draw(st.lists(st.integers(1, 3), max_size=3, unique=True))
    return draw(st.sampled_from([None, 0, 1, 2, 3]))


def _invoke(draw, model_name, unique_values):
    def value():
        return next(unique_values) if unique_values is not None else draw(st.integers(0, 3))

    if model_name == "register":
        f = draw(st.sampled_from(["read", "write"]))
    elif model_name == "cas-register":
        f = draw(st.sampled_from(["read", "write", "cas"]))
    elif model_name == "kv-append":
        f = draw(st.sampled_from(["get", "append", "append", "put"]))
        return f, None if f == "get" else draw(st.sampled_from(["a", "b", "c"]))
    elif model_name == "set":
        f = draw(st.sampled_from(["add", "read"]))
        return f, None if f == "read" else draw(st.integers(1, 3))
    else:
        raise AssertionError(model_name)
    if f == "read":
        return f, None
    if f == "cas":
        return f, [draw(st.integers(0, 3)), value()]
    return f, value()


SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@SETTINGS
@given(histories("register"), st.sampled_from(["strict", "unconstrained"]))
def test_register_agrees_with_brute_force(history, nil_reads):
    assert check(history, "register", nil_reads=nil_reads).valid == \
        brute_force(history, "register", nil_reads=nil_reads)


@SETTINGS
@given(histories("cas-register"), st.sampled_from([None, 0]))
def test_cas_register_agrees_with_brute_force(history, initial):
    assert check(history, "cas-register", initial=initial).valid == \
        brute_force(history, "cas-register", initial=initial)


class JsonSet(Model):
    """The brute force's own set: elements are JSON texts."""

    name = "json-set"
    ops = ("add", "read")

    def init(self):
        return frozenset()

    def step(self, state, op):
        if op.f == "add":
            return state | {json.dumps(op.value)}
        if op.type == "ok" and frozenset(json.dumps(v) for v in op.output) != state:
            return None
        return state


class JsonRegister(Model):
    """The brute force's own register, independent of the checker's value handling: the state
    is the JSON text of the value, so values are equal exactly when their JSON is."""

    name = "json-register"
    ops = ("read", "write")

    def init(self):
        return json.dumps(self.initial)

    def step(self, state, op):
        if op.f == "write":
            return json.dumps(op.value)
        if op.type == "ok" and not (self.nil_reads == "unconstrained" and op.output is None) \
                and json.dumps(op.output) != state:
            return None
        return state


@SETTINGS
@given(st.sampled_from([("register", "strict"), ("register", "unconstrained"), ("set", "strict")])
       .flatmap(lambda m: st.tuples(st.just(m), histories(m[0], alike=True, max_ops=8))))
def test_keys_and_values_that_print_alike_agree_with_brute_force(case):
    (model, nil_reads), history = case
    r = check(history, model, nil_reads=nil_reads)
    oracle = {"register": JsonRegister, "set": JsonSet}[model](nil_reads=nil_reads)
    by_key: dict[str, list] = {}
    for op in history.ops():
        by_key.setdefault(json.dumps(op.key), []).append(op)
    expected = {k: brute_force(ops, oracle) for k, ops in by_key.items()}
    assert {k: v["valid"] for k, v in r.details["keys"].items()} == expected
    assert r.valid is all(expected.values())
    assert sorted(json.dumps(a["key"]) for a in r.anomalies) == \
        sorted(k for k, ok in expected.items() if not ok)


@SETTINGS
@given(histories("kv-append"))
def test_kv_append_agrees_with_brute_force(history):
    assert check(history, "kv-append").valid == brute_force(history, "kv-append")


@SETTINGS
@given(histories("set"))
def test_set_agrees_with_brute_force(history):
    assert check(history, "set").valid == brute_force(history, "set")


def _unique_append(draw_history):
    """Make every appended value distinct, so the append-order rewrite applies."""
    n = 0
    for ev in draw_history.events:
        if ev.type == "invoke" and ev.f in ("append", "put"):
            n += 1
            ev.value = f"<{n}>"
    return draw_history


@SETTINGS
@given(histories("kv-append", max_ops=8), st.data())
def test_append_order_rewrite_agrees_with_brute_force(history, data):
    history = _unique_append(history)
    written = {}
    for ev in history.events:  # complete ops first so reads can be drawn from real prefixes
        if ev.type == "invoke" and ev.f != "get":
            written[ev.process] = ev.value
    tokens = sorted(set(written.values()))
    for ev in history.events:
        if ev.type == "ok" and ev.f == "get":
            ev.value = "".join(data.draw(st.lists(st.sampled_from(tokens), max_size=3, unique=True))
                               if tokens else [])
        elif ev.type in ("ok", "info") and ev.f != "get" and ev.value is not None:
            ev.value = written.get(ev.process, ev.value)
    _match_completion_values(history)
    assert check(history, "kv-append").valid == brute_force(history, "kv-append")


@SETTINGS
@given(histories("kv-append", max_ops=8), st.data())
def test_puts_and_gets_take_the_register_decider_and_agree_with_brute_force(history, data):
    for ev in history.events:
        if ev.f == "append":
            ev.f = "put"
    history = _unique_append(history)
    _match_completion_values(history)
    tokens = sorted({ev.value for ev in history.events if ev.f == "put" and ev.value})
    for ev in history.events:
        if ev.type == "ok" and ev.f == "get":
            ev.value = data.draw(st.sampled_from([""] + tokens))
    r = check(history, "kv-append")
    assert r.valid == brute_force(history, "kv-append")
    assert r.details["keys"]["null"]["decider"] == "unique-values"


def _match_completion_values(history):
    opened = {}
    for ev in history.events:
        if ev.type == "invoke":
            opened[ev.process] = ev
        elif ev.f != "get" and ev.type != "info":
            ev.value = opened[ev.process].value


@SETTINGS
@given(histories("register", unique=True, max_ops=8), st.sampled_from([None, 0]))
def test_unique_value_decider_agrees_with_search(history, initial):
    model = make_model("register", initial=initial)
    ops = prune([op for op in history.ops() if op.type != "fail" and model.relevant(op)], model)
    decision = decide(ops, model)
    searched = search(ops, model, Budget(None, None)).valid
    assert searched == brute_force(history, "register", initial=initial)
    if decision is not None:
        assert decision.valid == searched


@SETTINGS
@given(histories("cas-register", max_ops=9), st.sampled_from([None, 0]))
def test_compiled_search_agrees_with_python_search(history, initial):
    from splitbrain.checkers.linearizable.compiled import _wgl, search_compiled

    assert _wgl is not None, "the C extension is not built: pip install -e . builds it"
    model = make_model("cas-register", initial=initial)
    ops = [op for op in history.ops() if op.type != "fail" and model.relevant(op)]
    py = search(ops, model, Budget(None, None))
    c = search_compiled(ops, model, Budget(None, None))
    assert (c.valid, c.stuck, [i for i, _ in c.prefix]) == \
        (py.valid, py.stuck, [i for i, _ in py.prefix])


@SETTINGS
@given(histories("kv-append", max_ops=9))
def test_compiled_lookahead_walk_agrees_with_python_walk(history):
    import splitbrain.checkers.linearizable.search as search_module

    compiled_walk = search_module._compiled_walk
    assert compiled_walk is not None, "the C extension is not built: pip install -e . builds it"
    model = make_model("kv-append")
    ops = [op for op in history.ops() if op.type != "fail" and model.relevant(op)]
    with_c = search(ops, model, Budget(None, None))
    search_module._compiled_walk = None
    try:
        with_python = search(ops, model, Budget(None, None))
    finally:
        search_module._compiled_walk = compiled_walk
    assert (with_c.valid, with_c.stuck, with_c.explored) == \
        (with_python.valid, with_python.stuck, with_python.explored)


class JsonMultiRegister(Model):
    """The brute force's own multi-register: the state is the JSON text of the map."""

    name = "json-multi-register"
    ops = ("txn",)

    def init(self):
        return json.dumps({}, sort_keys=True)

    def step(self, state, op):
        registers = json.loads(state)
        for f, k, v in (op.output if op.type == "ok" else op.value):
            if f == "w":
                registers[k] = v
            elif op.type == "ok" and json.dumps(registers.get(k)) != json.dumps(v):
                return None
        return json.dumps(registers, sort_keys=True)


@st.composite
def txn_histories(draw):
    """Up to 6 txns of 1-2 micro-ops over registers x and y, from up to 3 processes; reads
    return values drawn at random (so many histories are illegal)."""
    values = st.sampled_from([None, 1, 2, True])
    micro = st.tuples(st.sampled_from(["r", "w"]), st.sampled_from(["x", "y"]), values)
    events, open_ops, next_process = [], {}, 0
    n = draw(st.integers(1, 6))
    while n or open_ops:
        if open_ops and (not n or len(open_ops) == 3 or draw(st.booleans())):
            p = draw(st.sampled_from(sorted(open_ops)))
            txn = open_ops.pop(p)
            kind = draw(st.sampled_from(["ok", "ok", "info", "fail"]))
            done = [[f, k, draw(values) if f == "r" else v] for f, k, v in txn]
            events.append(Event(kind, p, "txn", done if kind == "ok" else None))
            next_process += kind == "info"
        elif len(open_ops) < 3:
            p = next_process + draw(st.integers(0, 2))
            if p in open_ops:
                continue
            txn = [[f, k, None if f == "r" else v] for f, k, v in
                   draw(st.lists(micro, min_size=1, max_size=2))]
            open_ops[p] = txn
            events.append(Event("invoke", p, "txn", txn))
            n -= 1
    for i, ev in enumerate(events):
        ev.time = i
    return History(validate(events))


@SETTINGS
@given(txn_histories())
def test_multi_register_agrees_with_brute_force(history):
    assert check(history, "multi-register").valid == brute_force(history, JsonMultiRegister())
