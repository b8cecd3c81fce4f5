"""The public API (splitbrain/__init__.py): building histories, checking them with built-in and
user models, asserting, reporting, and every exported name."""

from __future__ import annotations

import ast
import re
import asyncio
import importlib.resources
import threading
from pathlib import Path

import pytest

import splitbrain
from splitbrain import (BadInput, HistoryError, HistoryRecorder, Model, ModelError,
                        NotLinearizable, Op, Operation, RecorderError, assert_linearizable,
                        check, freeze, history_from_events, history_from_operations)


class MaxRegister(Model):
    name = "max-register"
    ops = ("write", "read")
    reads = ("read",)
    default_initial = 0

    def step(self, state, op):
        if op.f == "write":
            return max(state, op.value)
        return state if not self.constrains(op) or op.output == state else None


# -- the bug of issue 17: Ops built from call and return times -----------------------------------


def test_ops_built_from_times_are_ordered_by_them():
    legal = [Op(0, 0, "write", 5, None, "ok", 0, 10), Op(1, 1, "read", None, 5, "ok", 20, 30)]
    assert check(legal, "register").valid is True
    stale = [Op(0, 0, "write", 5, None, "ok", 0, 10), Op(1, 1, "read", None, 0, "ok", 20, 30)]
    result = check(stale, "register", initial=0)
    assert result.valid is False
    assert "read 0, but the register held 5" in result.anomalies[0]["explanation"]


def test_overlapping_hand_built_ops_may_take_either_order():
    ops = [Op(0, 0, "write", 5, None, "ok", 0, 30), Op(1, 1, "read", None, 0, "ok", 10, 20)]
    assert check(ops, "register", initial=0).valid is True


# -- history_from_operations ---------------------------------------------------------------------


def test_history_from_operations_orders_events_by_time():
    h = history_from_operations([
        Operation(1, "read", None, 5, 20, 30),
        (0, "write", 5, None, 0, 10),
    ])
    assert [(e.type, e.process, e.f, e.value, e.time) for e in h] == [
        ("invoke", 0, "write", 5, 0), ("ok", 0, "write", None, 10),
        ("invoke", 1, "read", None, 20), ("ok", 1, "read", 5, 30)]
    assert check(h, "register").valid is True


def test_ops_touching_at_an_instant_are_concurrent_but_a_client_stays_sequential():
    h = history_from_operations([
        Operation(0, "write", 1, None, 0, 10),
        Operation(1, "read", None, 0, 10, 20),  # called as the write returned: concurrent
        Operation(0, "write", 2, None, 10, 20),  # client 0's next op follows its return
    ])
    assert [(e.type, e.process, e.f) for e in h] == [
        ("invoke", 0, "write"), ("invoke", 1, "read"), ("ok", 0, "write"),
        ("invoke", 0, "write"), ("ok", 1, "read"), ("ok", 0, "write")]
    assert check(h, "register", initial=0).valid is True


def test_crashed_and_failed_operations():
    h = history_from_operations([
        Operation(0, "write", 1, None, 0, None),  # crashed: may take effect any time later
        Operation(0, "write", 2, None, 5, 6, failed=True),  # same client, a fresh process
        Operation(1, "read", None, 1, 20, 30),
    ])
    ops = h.ops()
    assert [(op.process, op.type) for op in ops] == [(0, "info"), ("0/1", "fail"), (1, "ok")]
    assert check(h, "register", initial=0).valid is True
    h2 = history_from_operations([Operation(0, "write", 2, None, 0, 1, failed=True),
                                  Operation(1, "read", None, 2, 5, 6)])
    assert check(h2, "register", initial=0).valid is False


@pytest.mark.parametrize("ops, message", [
    ([Operation(0, "write", 1, None, 0, 10), Operation(0, "read", None, 1, 5, 20)],
     "operation 1 (read at 5) starts before client 0's write (operation 0) returned at 10"),
    ([Operation(0, "write", 1, None, 10, 5)], "returns at 5, before its call at 10"),
    ([Operation(0, "write", 1, None, "soon", 5)], "has call time 'soon'"),
    ([Operation(0, "write", 1, None, 0, None, failed=True)], "failed but has no return time"),
    ([("too", "short")], "operation 0 is ('too', 'short'); give an Operation or a tuple"),
])
def test_history_from_operations_rejects_impossible_operations(ops, message):
    with pytest.raises(HistoryError, match=message.replace("(", r"\(").replace(")", r"\)")):
        history_from_operations(ops)


def test_history_from_events_validates():
    h = history_from_events([{"type": "invoke", "process": 0, "f": "write", "value": 3},
                             splitbrain.Event("ok", 0, "write", 3, 1)])
    assert [e.index for e in h] == [0, 1]
    with pytest.raises(HistoryError, match="has no open invocation"):
        history_from_events([{"type": "ok", "process": 0, "f": "read"}])
    with pytest.raises(HistoryError, match="event 0 lacks the field"):
        history_from_events([{"process": 0, "f": "read"}])


# -- HistoryRecorder ----------------------------------------------------------------------------


def test_recorder_from_threads_keeps_real_time_order():
    rec = HistoryRecorder()
    register = {"v": 0}
    lock = threading.Lock()

    def worker(client: int) -> None:
        for i in range(20):
            with rec.op(client, "write", client * 100 + i) as op:
                with lock:
                    register["v"] = op.input
            with rec.op(client, "read") as op:
                with lock:
                    op.ok(register["v"])

    threads = [threading.Thread(target=worker, args=(c,)) for c in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    h = rec.history()
    assert len(h.ops()) == 160 and all(op.type == "ok" for op in h.ops())
    assert [e.time for e in h] == sorted(e.time for e in h)
    assert_linearizable(h, "register", initial=0)


def test_recorder_records_an_op_finished_before_another_began_in_that_order():
    rec = HistoryRecorder()
    with rec.op(0, "write", 1):
        pass
    with rec.op(1, "read") as op:
        op.ok(0)  # a stale read after the write returned: illegal
    with pytest.raises(NotLinearizable, match="read 0, but the register held 1"):
        assert_linearizable(rec.history(), "register", initial=0)


def test_recorder_async_exceptions_and_failures():
    rec = HistoryRecorder()

    async def main() -> None:
        async def crash() -> None:
            async with rec.op("a", "write", 7):
                await asyncio.sleep(0.01)
                raise TimeoutError

        async def refused() -> None:
            async with rec.op("b", "write", 8) as op:
                op.fail("condition-failed")

        results = await asyncio.gather(crash(), refused(), return_exceptions=True)
        assert isinstance(results[0], TimeoutError) and results[1] is None
        async with rec.op("a", "read") as op:  # a crashed client continues as a new process
            op.ok(7)

    asyncio.run(main())
    ops = rec.history().ops()
    assert [(op.process, op.f, op.type, op.error) for op in ops] == [
        ("a", "write", "info", "TimeoutError"), ("b", "write", "fail", "condition-failed"),
        ("a/1", "read", "ok", None)]
    assert check(rec.history(), "register", initial=0).valid is True


def test_recorder_refuses_two_ops_of_one_client_at_once():
    rec = HistoryRecorder()
    with rec.op(0, "write", 1):
        with pytest.raises(RecorderError, match="client 0 starts 'read' while its 'write' is "
                                                "still running"):
            with rec.op(0, "read"):
                pass
    assert [e.type for e in rec.history()] == ["invoke", "ok"]


# -- user models and their mistakes --------------------------------------------------------------


def test_a_user_model_checks_and_explains():
    ops = [Operation(0, "write", 3, None, 0, 1), Operation(1, "write", 1, None, 2, 3),
           Operation(2, "read", None, 1, 4, 5)]
    result = check(history_from_operations(ops), MaxRegister())
    assert result.valid is False
    assert result.anomalies[0]["explanation"].startswith("read -> 1 (op 4) cannot be linearized")
    assert check(history_from_operations(ops[:2]), MaxRegister()).valid is True


class Raises(MaxRegister):
    def step(self, state, op):
        return {"write": 1}[op.f] + state


class Unhashable(MaxRegister):
    def step(self, state, op):
        return [state]


class NoOps(Model):
    name = "no-ops"


class NoStep(Model):
    name = "no-step"
    ops = ("write",)


@pytest.mark.parametrize("model, message", [
    (Raises(), "model 'max-register' (test_api.Raises): step on read -> 0 (op 2) in state 1 "
               "raised KeyError: 'read'; step(state, op) must return"),
    (Unhashable(), "model 'max-register' (test_api.Unhashable): step on write 1 (op 0) in state "
                   "0 returned list [0], which is not hashable"),
    (NoOps(), "model 'no-ops' (test_api.NoOps) declares no operations; set ops"),
    (NoStep(), "model 'no-step' (test_api.NoStep): step on write 1 (op 0) is not implemented"),
    ("no-such-model", "unknown model 'no-such-model'"),
])
def test_a_models_mistake_is_one_sentence_naming_model_and_op(model, message):
    h = history_from_operations([Operation(0, "write", 1, None, 0, 1),
                                 Operation(0, "read", None, 0, 2, 3)][:1 if isinstance(
                                     model, NoStep) else 2])
    with pytest.raises(BadInput) as caught:
        check(h, model)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    if not isinstance(model, str):
        assert isinstance(caught.value, ModelError)


class ListInit(MaxRegister):
    def init(self):
        return [0]


class BadPartition(MaxRegister):
    def partition(self, ops):
        return list(ops)


class BadDescription(MaxRegister):
    def describe_state(self, state):
        raise RuntimeError("no words")


@pytest.mark.parametrize("model, message", [
    (ListInit(), "model 'max-register' (test_api.ListInit): init returned list [0], which is "
                 "not hashable"),
    (BadPartition(), "model 'max-register' (test_api.BadPartition): partition returned list; "
                     "partition(ops) must return a dict of key -> list of ops"),
    (BadDescription(), "model 'max-register' (test_api.BadDescription): why on read -> 0 (op 2) "
                       "raised RuntimeError: no words"),
])
def test_every_hook_of_a_user_model_is_guarded(model, message):
    h = history_from_operations([Operation(0, "write", 1, None, 0, 1),
                                 Operation(0, "read", None, 0, 2, 3)])
    with pytest.raises(ModelError, match=re.escape(message)):
        check(h, model)


def test_a_subclass_of_a_builtin_is_guarded_and_searched():
    class Doubling(splitbrain.MODELS["register"]):
        name = "doubling"

        def step(self, state, op):
            if op.f == "write":
                return 2 * op.value
            return super().step(state, op)

    h = history_from_operations([Operation(0, "write", 2, None, 0, 1),
                                 Operation(1, "read", None, 4, 2, 3)])
    assert check(h, Doubling()).valid is True
    assert check(h, "register").valid is False


def test_an_op_the_user_model_does_not_know_names_the_fix():
    h = history_from_operations([Operation(0, "cas", [0, 1], None, 0, 1)])
    with pytest.raises(ModelError, match="has no operation 'cas' .* add 'cas' to its ops"):
        check(h, MaxRegister())


def test_freeze_makes_states_hashable():
    assert freeze({"b": [1, 2], "a": None}) == freeze({"a": None, "b": [1, 2]})
    hash(freeze({"b": [1, 2]}))


# -- assert_linearizable, eventual checkers, report ---------------------------------------------


def test_assert_linearizable_message_is_the_explanation():
    h = history_from_operations([Operation(0, "write", 5, None, 0, 10),
                                 Operation(1, "read", None, 4, 20, 30)])
    with pytest.raises(NotLinearizable) as caught:
        assert_linearizable(h, "register", initial=0)
    text = str(caught.value)
    assert text.splitlines()[0].startswith("history: NOT linearizable (2 ops")
    assert "read -> 4 (op 2) cannot be linearized: read 4, but the register held 5" in text
    assert "failing window: ops 2" in text
    assert caught.value.result.valid is False
    ok = assert_linearizable(history_from_operations([Operation(0, "write", 5, None, 0, 10)]),
                             "register")
    assert ok.valid is True


def test_assert_linearizable_fails_on_an_unknown_verdict():
    ops = [Operation(c, "write", c, None, 0, 100) for c in range(12)]
    ops += [Operation(20 + c, "read", None, c, 200, 300) for c in range(12)]
    with pytest.raises(NotLinearizable, match="unknown"):
        assert_linearizable(history_from_operations(ops), MaxRegister(), time_limit=1e-9)


def test_the_eventual_checkers_judge_built_histories():
    h = history_from_operations([Operation(0, "write", 1, None, 0, 10, key="k"),
                                 Operation(1, "read", None, 9, 20, 30, key="k")])
    reads = splitbrain.check_reads(h)
    assert reads.valid is False and reads.anomalies[0]["type"] == "invented-value"
    for name in ("check_lww", "check_siblings", "check_sets", "check_counter",
                 "check_staleness", "check_session", "check_availability"):
        assert isinstance(getattr(splitbrain, name)(h), splitbrain.Result), name
    quorum = splitbrain.check_quorum(h, n=3, r=2, w=2, settle=4.1)
    assert "no nemesis ops" in quorum.details["unchecked"]["quorum-stale-read"]
    combined = splitbrain.compose({"reads": reads, "lin": check(h, "register")})
    assert combined.valid is False


def test_report_writes_html_and_the_history_beside_it(tmp_path: Path):
    h = history_from_operations([Operation(0, "write", 5, None, 0, 10),
                                 Operation(1, "read", None, 4, 20, 30)])
    out = splitbrain.report(h, check(h, "register"), tmp_path / "out" / "lin.html")
    assert out == tmp_path / "out" / "lin.html"
    html = out.read_text()
    assert "cannot be linearized" in html and "lin.history.jsonl" in html
    again = splitbrain.history_from_events(
        __import__("json").loads(line)
        for line in (tmp_path / "out" / "lin.history.jsonl").read_text().splitlines())
    assert [e.to_dict() for e in again] == [e.to_dict() for e in h]


# -- the exported names --------------------------------------------------------------------------


def test_every_public_name_resolves_and_matches_the_type_checking_imports():
    tree = ast.parse(Path(splitbrain.__file__).read_text())
    typed: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for imp in node.body:
                typed |= {a.asname or a.name for a in imp.names}
    assert typed == set(splitbrain.__all__)
    for name in splitbrain.__all__:
        assert getattr(splitbrain, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        splitbrain.nope  # noqa: B018


def test_the_package_is_typed():
    assert importlib.resources.files("splitbrain").joinpath("py.typed").is_file()


@pytest.mark.integration
def test_importing_splitbrain_loads_no_checker():
    import subprocess
    import sys

    code = "import sys, splitbrain; print(sorted(m for m in sys.modules if 'checkers' in m))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert out.strip() == "[]"
