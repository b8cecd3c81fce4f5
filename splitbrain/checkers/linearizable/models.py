"""Sequential specifications the linearizability search checks histories against.

A model is a small class (DESIGN.md, "Checkers"):

* ``init()`` -> the initial state (hashable);
* ``step(state, op)`` -> the state after ``op``, or ``None`` when ``op`` is illegal in ``state``.
  ``op`` is a :class:`~splitbrain.history.Op`; its ``output`` is only meaningful when
  ``op.type == "ok"`` (an ``info`` op's result is unknown, so ``step`` must not check it);
* ``compile(op)`` -> a function ``state -> new state or None`` equal to ``step(state, op)``;
  the search calls it in its inner loop, so built-ins bind the op's values once;
* ``relevant(op)`` -> False for ops that can neither change the state nor be illegal (a read that
  crashed, a nil read under Knossos's convention); the checker leaves them out. ``fail`` ops never
  reach a model: they certainly did not take effect;
* ``behaviour(op)`` -> a hashable summary such that two ops with equal behaviour have equal
  ``step`` functions (the search uses it to try only one of two interchangeable ops);
* ``partition(ops)`` -> independent sub-histories (P-compositionality); by default one per
  ``key``, so a keyed history is checked as independent objects, one per key;
* ``describe_op(op)``, ``describe_state(state)``, ``why(op, states)`` for explanations;
* optionally ``may_reach(state, read)`` with ``resets``: a model whose state, between two ops
  named in ``resets``, only grows, says whether ``read`` (an ok read) can still be satisfied
  from ``state`` without a reset (kv-append: ``state`` is a prefix of what it read). The search
  then prunes states that a read it must reach before any reset could never accept.

Built-ins (``MODELS``): register, cas-register, kv, kv-append, set, counter, queue (fifo),
mutex, multi-register (Knossos's transactions over several registers). Options common to all: ``initial`` (the initial value) and ``nil_reads`` ("strict", or
"unconstrained": Knossos's convention that a read of nil is always legal).
"""

from __future__ import annotations

import json
from typing import Any, Callable, Hashable

from splitbrain.errors import BadInput
from splitbrain.history import Op

NIL_READS = ("strict", "unconstrained")


class _Nil:
    """The nil value as a model state: ``step`` returns None to mean "illegal", so a register
    holding nil holds this instead."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "nil"

    def __reduce__(self) -> str:
        return "NIL"


NIL = _Nil()


class _Bool:
    """JSON true or false as a model value. Python's ``True == 1`` would make a read of 1 match
    a write of true, a set hold one of the two, and keys 1 and true one register; JSON has no
    such equality, so frozen values keep booleans apart from numbers."""

    __slots__ = ("value",)

    def __init__(self, value: bool):
        self.value = value

    def __repr__(self) -> str:
        return "true" if self.value else "false"

    def __reduce__(self) -> str:
        return "TRUE" if self.value else "FALSE"


TRUE, FALSE = _Bool(True), _Bool(False)


class _Map(tuple):
    """A frozen dict: its (key, value) pairs in a canonical order. It never equals a frozen
    list, not even a list of the same pairs."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return type(other) is _Map and tuple.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash((_Map, tuple(self)))


def freeze(v: Any) -> Hashable:
    """A hashable form of a JSON-like value that is equal exactly when the JSON values are
    equal: None becomes :data:`NIL`, booleans :data:`TRUE` and :data:`FALSE` (never equal to
    a number), lists tuples and dicts :class:`_Map`. Numbers compare by value, as JSON has one
    number type: 1 and 1.0 are the same value (and the same key)."""
    t = type(v)
    if t is int or t is str or t is _Nil:  # the common case, first: it runs in every step
        return v
    if v is None:
        return NIL
    if t is bool:
        return TRUE if v else FALSE
    if isinstance(v, list):
        return tuple(freeze(x) for x in v)
    if isinstance(v, dict):
        return _map_of((k, freeze(x)) for k, x in v.items())
    return v


def _map_of(pairs: Any) -> _Map:
    """A frozen map of (key, frozen value) pairs, in the canonical order."""
    pairs = list(pairs)
    try:
        return _Map(sorted(pairs))
    except TypeError:  # keys of mixed types (EDN maps): any fixed order will do
        return _Map(sorted(pairs, key=lambda kv: (type(kv[0]).__name__, repr(kv[0]))))


def thaw(v: Hashable) -> Any:
    """The JSON-like value a frozen one stands for (the inverse of :func:`freeze`)."""
    if v is NIL:
        return None
    if isinstance(v, _Bool):
        return v.value
    if isinstance(v, _Map):
        return {k: thaw(x) for k, x in v}
    if isinstance(v, tuple):
        return [thaw(x) for x in v]
    return v


def json_text(v: Any) -> str:
    """A value's (or frozen value's) JSON text: distinct for distinct JSON values, so it names
    a key unambiguously ("1" and 1, "None" and null, "True" and true print differently)."""
    return json.dumps(thaw(v), default=str)


def show(v: Any) -> str:
    """A value as a person reads it: JSON, with nil for None."""
    if v is None or v is NIL:
        return "nil"
    try:
        return json_text(v)
    except (TypeError, ValueError):
        return str(v)


def either(states: list[Hashable], describe: Callable[[Hashable], str] = show,
           most: int = 4) -> str:
    """'1', '1 or 4', '1, 2 or 4'; past ``most`` states (the shortest are shown),
    '1, 2, 3, 4 or 7 other values'. Only the shown states are described."""
    distinct = sorted(set(states), key=lambda s: (len(repr(s)), repr(s)))
    texts = [describe(s) for s in distinct[:most]]
    if len(distinct) > most:
        return ", ".join(texts) + f" or {len(distinct) - most} other values"
    return texts[0] if len(texts) == 1 else ", ".join(texts[:-1]) + " or " + texts[-1]


class Model:
    """Base class: subclasses set ``name`` and ``ops`` (the op names ``step`` understands) and
    implement ``step``; ``init`` returns ``freeze(initial)`` unless overridden.

    ``step(state, op)`` returns the state after ``op`` or None when ``op`` is illegal in
    ``state``; states are hashable and never changed in place. Every other hook (see the module
    docstring) has a default and buys speed (``partition``, ``compile``, ``behaviour``,
    ``relevant``, ``may_reach``) or nicer explanations (``describe_op``, ``describe_state``,
    ``why``, ``noun``); docs/api.md has the table and a worked model."""

    name = "model"
    noun = "the state"
    ops: tuple[str, ...] = ()
    reads: tuple[str, ...] = ()
    resets: tuple[str, ...] = ()
    may_reach: Callable[[Hashable, Op], bool] | None = None
    default_initial: Any = None

    def __init__(self, *, initial: Any = None, nil_reads: str = "strict"):
        if nil_reads not in NIL_READS:
            raise BadInput(f"--nil-reads must be strict or unconstrained, not {nil_reads!r}")
        self.initial = self.default_initial if initial is None else initial
        self.nil_reads = nil_reads

    def init(self) -> Hashable:
        return freeze(self.initial)

    def step(self, state: Hashable, op: Op) -> Hashable | None:
        raise NotImplementedError

    def compile(self, op: Op) -> Callable[[Hashable], Hashable | None]:
        step = self.step
        return lambda state: step(state, op)

    def check_op(self, op: Op) -> None:
        """Raise BadInput when the model cannot interpret ``op``."""
        if op.f not in self.ops:
            raise BadInput(f"the {self.name} model has no operation {op.f!r} (op at index "
                           f"{op.index}); its operations are {', '.join(self.ops)}; choose "
                           f"another --model")

    def partition(self, ops: list[Op]) -> dict[Hashable, list[Op]]:
        """Independent sub-histories, by key compared as JSON values (:func:`freeze`; ops
        without a key form the :data:`NIL` group)."""
        parts: dict[Hashable, list[Op]] = {}
        for op in ops:
            parts.setdefault(freeze(op.key), []).append(op)
        return parts

    def constrains(self, op: Op) -> bool:
        """Whether a read's output constrains the state: it completed, and it is not a nil
        read under the unconstrained convention."""
        return op.type == "ok" and not (self.nil_reads == "unconstrained" and op.output is None)

    def relevant(self, op: Op) -> bool:
        return self.constrains(op) if op.f in self.reads else True

    def behaviour(self, op: Op) -> Hashable:
        out = freeze(op.output) if op.type == "ok" and op.f in self.reads else None
        return (op.f, freeze(op.value), out, op.type == "ok" and op.f in self.reads)

    def describe_op(self, op: Op) -> str:
        arg = "" if op.f in self.reads else " " + show(op.value)
        res = f" -> {show(op.output)}" if op.f in self.reads and op.type == "ok" else ""
        crashed = " (crashed)" if op.type == "info" else ""
        key = f" [{show(op.key)}]" if op.key is not None else ""
        return f"{op.f}{key}{arg}{res}{crashed}"

    def describe_state(self, state: Hashable) -> str:
        return show(state)

    def why(self, op: Op, states: list[Hashable]) -> str:
        """Why ``op`` is illegal in every one of ``states`` (one clause)."""
        held = either(states, self.describe_state) if states else "nothing reachable"
        return f"{self.describe_op(op)} is illegal when {self.noun} is {held}"


class Register(Model):
    """A read/write register. ``read`` returns the value; ``write v`` sets it."""

    name = "register"
    noun = "the register"
    ops = ("read", "write")
    reads = ("read",)

    def step(self, state, op):
        if op.f == "write":
            return freeze(op.value)
        if self.constrains(op) and freeze(op.output) != state:
            return None
        return state

    def compile(self, op):
        if op.f == "write":
            value = freeze(op.value)
            return lambda state: value
        if self.constrains(op):
            output = freeze(op.output)
            return lambda state: state if state == output else None
        return lambda state: state

    def behaviour(self, op):
        if op.f == "write":
            return ("write", freeze(op.value))
        return super().behaviour(op)

    def why(self, op, states):
        held = either(states, self.describe_state)
        if op.f == "read":
            return f"read {show(op.output)}, but {self.noun} held {held}"
        if op.f == "cas":
            return f"cas expected {show(_pair(op)[0])}, but {self.noun} held {held}"
        return super().why(op, states)


class CasRegister(Register):
    """A register with ``cas [expected new]``, which succeeds only on the expected value."""

    name = "cas-register"
    ops = ("read", "write", "cas")

    def check_op(self, op):
        super().check_op(op)
        if op.f == "cas" and not (isinstance(op.value, (list, tuple)) and len(op.value) == 2):
            raise BadInput(f"cas at index {op.index} has value {show(op.value)}; a cas takes "
                           f"[expected, new]")

    def step(self, state, op):
        if op.f == "cas":
            expected, new = _pair(op)
            return new if state == expected else None
        return super().step(state, op)

    def compile(self, op):
        if op.f == "cas":
            expected, new = _pair(op)
            return lambda state: new if state == expected else None
        return super().compile(op)


class KV(CasRegister):
    """Independent cas-registers, one per key (every model splits a keyed history per key; this
    name is for users who think of the history as a map)."""

    name = "kv"


class KVAppend(Model):
    """Per-key strings: ``get`` returns the string, ``put v`` sets it, ``append v`` concatenates
    (Porcupine's kv model). Keys start at "" unless ``initial`` says otherwise."""

    name = "kv-append"
    noun = "the value"
    ops = ("get", "put", "append", "read", "write")
    reads = ("get", "read")
    resets = ("put", "write")
    default_initial = ""

    def __init__(self, **options: Any):
        super().__init__(**options)
        if not isinstance(self.initial, str):
            raise BadInput(f"--initial {show(self.initial)} is not a string; the kv-append "
                           f"model holds strings")

    def check_op(self, op):
        super().check_op(op)
        if op.f not in self.reads and not isinstance(op.value, str):
            raise BadInput(f"{op.f} at index {op.index} has value {show(op.value)}; the "
                           f"kv-append model's {op.f} takes a string")

    def may_reach(self, state, read):
        return isinstance(read.output, str) and isinstance(state, str) and \
            read.output.startswith(state)

    def step(self, state, op):
        if op.f == "append":
            return state + op.value
        if op.f in ("put", "write"):
            return op.value
        if self.constrains(op) and op.output != state:
            return None
        return state

    def why(self, op, states):
        if op.f in self.reads:
            return f"got {show(op.output)}, but the value was {either(states)}"
        return super().why(op, states)


class SetModel(Model):
    """A grow-only set: ``add v``; ``read`` returns all elements (any order)."""

    name = "set"
    noun = "the set"
    ops = ("add", "read")
    reads = ("read",)

    def __init__(self, **options: Any):
        super().__init__(**options)
        if not isinstance(self.initial, (list, type(None))):
            raise BadInput(f"--initial {show(self.initial)} is not a list; the set model "
                           f"starts from a list of elements")

    def check_op(self, op):
        super().check_op(op)
        if op.f == "read" and op.type == "ok" and not isinstance(op.output, (list, type(None))):
            raise BadInput(f"read at index {op.index} returned {show(op.output)}; a set read "
                           f"returns the list of elements")

    def init(self):
        return frozenset(freeze(x) for x in (self.initial or ()))

    def may_reach(self, state, read):
        return state <= frozenset(freeze(x) for x in (read.output or ()))

    def step(self, state, op):
        if op.f == "add":
            return state | {freeze(op.value)}
        if self.constrains(op) and frozenset(freeze(x) for x in (op.output or ())) != state:
            return None
        return state

    def behaviour(self, op):
        if op.f == "read" and op.type == "ok":
            return ("read", frozenset(freeze(x) for x in (op.output or ())))
        return super().behaviour(op)

    def describe_state(self, state):
        return "{" + ", ".join(sorted(show(x) for x in state)) + "}"


class Counter(Model):
    """A counter: ``add n`` (or ``increment``, by 1); ``read`` returns the total."""

    name = "counter"
    noun = "the counter"
    ops = ("add", "increment", "read")
    reads = ("read",)
    default_initial = 0

    def __init__(self, **options: Any):
        super().__init__(**options)
        if not _number(self.initial):
            raise BadInput(f"--initial {show(self.initial)} is not a number; the counter "
                           f"model counts from a number")

    def check_op(self, op):
        super().check_op(op)
        if op.f == "add" and not _number(op.value):
            raise BadInput(f"add at index {op.index} has value {show(op.value)}; the counter "
                           f"model adds numbers")

    def step(self, state, op):
        if op.f == "add":
            return state + op.value
        if op.f == "increment":
            return state + 1
        if self.constrains(op) and freeze(op.output) != state:
            return None
        return state


class Queue(Model):
    """A FIFO queue: ``enqueue v``; ``dequeue`` returns the oldest element, or nil when empty."""

    name = "queue"
    noun = "the queue"
    ops = ("enqueue", "dequeue")
    reads = ()

    def __init__(self, **options: Any):
        super().__init__(**options)
        if not isinstance(self.initial, (list, type(None))):
            raise BadInput(f"--initial {show(self.initial)} is not a list; the queue model "
                           f"starts from a list of elements")

    def init(self):
        return tuple(freeze(x) for x in (self.initial or ()))

    def step(self, state, op):
        if op.f == "enqueue":
            return state + (freeze(op.value),)
        if op.type != "ok":
            return state[1:]
        if not state:
            return state if op.output is None else None
        return state[1:] if freeze(op.output) == state[0] else None

    def behaviour(self, op):
        out = freeze(op.output) if op.type == "ok" and op.f == "dequeue" else None
        return (op.f, freeze(op.value), out, op.type == "ok")

    def describe_op(self, op):
        if op.f == "dequeue":
            res = f" -> {show(op.output)}" if op.type == "ok" else " (crashed)"
            return "dequeue" + res
        return super().describe_op(op)


class Mutex(Model):
    """A lock: ``acquire`` is legal only when free, ``release`` only when held."""

    name = "mutex"
    noun = "the lock"
    ops = ("acquire", "release")
    default_initial = False

    def init(self):
        return bool(self.initial)  # held or not: a Python bool, never compared with a value

    def step(self, state, op):
        if op.f == "acquire":
            return True if not state else None
        return False if state else None

    def describe_op(self, op):
        return op.f + (" (crashed)" if op.type == "info" else "")

    def describe_state(self, state):
        return "held" if state else "free"


class MultiRegister(Model):
    """Knossos's multi-register: registers by key, read and written by transactions. An op is
    ``txn`` whose value is a list of micro-ops ``[f, k, v]`` with f ``read``/``r`` or
    ``write``/``w``; an ok txn's completion carries the values its reads returned (an ``info``
    txn's writes may take effect, its reads constrain nothing). ``initial`` is a map of keys to
    values (default: every register nil). A read of nil follows ``nil_reads`` (Knossos always
    treats it as unconstrained: pass "unconstrained" to match). A txn touches several keys, so
    the history is one sub-history, not one per key."""

    name = "multi-register"
    noun = "the state of the registers"
    ops = ("txn",)
    default_initial: Any = None
    _READS, _WRITES = ("read", "r"), ("write", "w")

    def __init__(self, **options: Any):
        super().__init__(**options)
        if not isinstance(self.initial, (dict, type(None))):
            raise BadInput(f"--initial {show(self.initial)} is not a map; the multi-register "
                           f"model starts from a map of keys to values, e.g. '{{\"x\": 0}}'")

    def init(self):
        return freeze(self.initial or {})

    def check_op(self, op):
        super().check_op(op)
        for micro in (op.value, op.output) if op.type == "ok" else (op.value,):
            if not isinstance(micro, list) or not all(
                    isinstance(m, list) and len(m) == 3 and m[0] in self._READS + self._WRITES
                    for m in micro):
                raise BadInput(f"txn at index {op.index} has value {show(micro)}; a "
                               f"multi-register txn is a list of [read k v] or [write k v]")

    def partition(self, ops):
        return {NIL: list(ops)} if ops else {}

    def _micro_ops(self, op: Op) -> list:
        return op.output if op.type == "ok" else op.value

    def relevant(self, op):
        return op.type == "ok" or any(m[0] in self._WRITES for m in op.value)

    def step(self, state, op):
        registers = dict(state)
        for f, k, v in self._micro_ops(op):
            k = freeze(k)
            if f in self._WRITES:
                registers[k] = freeze(v)
            elif op.type == "ok" and not (self.nil_reads == "unconstrained" and v is None) \
                    and registers.get(k, NIL) != freeze(v):
                return None
        return _map_of(registers.items())

    def behaviour(self, op):
        return (op.type == "ok", freeze(self._micro_ops(op)))

    def describe_op(self, op):
        crashed = " (crashed)" if op.type == "info" else ""
        return f"txn {show(self._micro_ops(op))}{crashed}"


MODELS: dict[str, type[Model]] = {
    cls.name: cls for cls in (Register, CasRegister, KV, KVAppend, SetModel, Counter, Queue, Mutex,
                              MultiRegister)
}
MODELS["fifo"] = Queue


def make_model(model: str | Model, *, initial: Any = None, nil_reads: str = "strict") -> Model:
    """A built-in model by name (with the options) or a ready Model instance."""
    if isinstance(model, Model):
        return model
    cls = MODELS.get(model)
    if cls is None:
        raise BadInput(f"unknown model {model!r}; choose one of {', '.join(sorted(MODELS))}")
    return cls(initial=initial, nil_reads=nil_reads)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _pair(op: Op) -> tuple[Hashable, Hashable]:
    expected, new = op.value
    return freeze(expected), freeze(new)
