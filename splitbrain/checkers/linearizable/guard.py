"""A user's model, guarded: its mistakes become one sentence naming the model and the op.

Rules:

* Built-in models are trusted and returned unchanged by :func:`guard`; any other
  :class:`~.models.Model` is wrapped in a :class:`GuardedModel`, which presents the same
  attributes and methods to the checker.
* Every call into the user's code (``init``, ``step``, ``compile`` and the function it returns,
  ``check_op``, ``partition``, ``relevant``, ``constrains``, ``behaviour``, ``describe_op``, ``describe_state``, ``why``,
  ``may_reach``) that raises becomes a :class:`ModelError` saying which method of which model
  failed on which op, and what the method must do.
* A state (from ``init``, ``step`` or a compiled step) and a ``behaviour`` must be hashable: the
  search memoises them. An unhashable one is a ModelError too; ``partition`` must return a dict
  of lists of ops.
* ``compile`` is used only when the class that defines it is the class that defines ``step``
  or a subclass of it; otherwise (a built-in's subclass that overrides ``step`` alone) the
  search calls ``step``, which a compile written for another step would contradict.
* A wrapped model is not a built-in, so the polynomial deciders and the compiled core, which
  are proven for the built-ins only, never run on it: the verdict comes from the search.
"""

from __future__ import annotations

from typing import Any, Callable, Hashable

from splitbrain.checkers.linearizable.models import MODELS, Model, show
from splitbrain.errors import BadInput
from splitbrain.history import Op

_CONTRACTS = {
    "init": "init() must return the initial state, a hashable value",
    "step": "step(state, op) must return the state after op (hashable), or None when op is "
            "illegal in state",
    "compile": "compile(op) must return a function state -> step(state, op)",
    "partition": "partition(ops) must return a dict of key -> list of ops",
    "relevant": "relevant(op) must return a bool",
    "constrains": "constrains(op) must return a bool",
    "behaviour": "behaviour(op) must return a hashable summary of op",
    "describe_op": "describe_op(op) must return a string",
    "describe_state": "describe_state(state) must return a string",
    "why": "why(op, states) must return a string",
    "may_reach": "may_reach(state, read) must return a bool",
}


class ModelError(BadInput):
    """A user's model broke its contract: one sentence naming the model, the method, the op
    and what the method must do."""


def guard(model: Model) -> Model:
    """``model`` itself when it is a built-in, else a :class:`GuardedModel` around it.
    Raises ModelError when ``model`` is not a Model or declares no operations."""
    if not isinstance(model, Model):
        raise ModelError(f"{model!r} is not a model; subclass splitbrain.Model and pass an "
                         f"instance")
    if type(model) in MODELS.values():
        return model
    return GuardedModel(model)


def _defining(cls: type, attribute: str) -> type:
    """The class in ``cls``'s MRO that defines ``attribute``."""
    return next(k for k in cls.__mro__ if attribute in vars(k))


def _op_text(op: Op) -> str:
    key = f" [{show(op.key)}]" if op.key is not None else ""
    value = f" {show(op.value)}" if op.value is not None else ""
    output = f" -> {show(op.output)}" if op.output is not None else ""
    return f"{op.f}{key}{value}{output} (op {op.index})"


class GuardedModel(Model):
    """``inner``'s behaviour, with every mistake reported as a :class:`ModelError`."""

    def __init__(self, inner: Model):
        self.inner = inner
        cls = type(inner)
        self.label = f"{inner.name!r} ({cls.__module__}.{cls.__qualname__})"
        if not inner.ops:
            raise ModelError(f"model {self.label} declares no operations; set ops = (...) on "
                             f"the class to the op names (f) its step understands")
        self.name, self.noun = inner.name, inner.noun
        self.ops, self.reads, self.resets = tuple(inner.ops), tuple(inner.reads), tuple(inner.resets)
        self.initial = getattr(inner, "initial", None)
        self.nil_reads = getattr(inner, "nil_reads", "strict")
        if inner.may_reach is not None:
            self.may_reach = self._may_reach
        self._compiles = issubclass(_defining(cls, "compile"), _defining(cls, "step"))

    def _fail(self, method: str, error: BaseException | str, op: Op | None = None,
              state: Any = None, with_state: bool = False) -> ModelError:
        what = error if isinstance(error, str) else f"raised {type(error).__name__}: {error}"
        on = f" on {_op_text(op)}" if op is not None else ""
        at = f" in state {state!r}" if with_state else ""
        return ModelError(f"model {self.label}: {method}{on}{at} {what}; "
                          f"{_CONTRACTS[method]}")

    def _call(self, method: str, fn: Callable[..., Any], *args: Any, op: Op | None = None,
              state: Any = None, with_state: bool = False) -> Any:
        try:
            return fn(*args)
        except ModelError:
            raise
        except NotImplementedError:
            raise self._fail(method, "is not implemented", op) from None
        except Exception as e:
            raise self._fail(method, e, op, state, with_state) from None

    def _state(self, method: str, value: Any, op: Op | None = None, state: Any = None,
               with_state: bool = False) -> Any:
        try:
            hash(value)
        except TypeError:
            raise self._fail(method, f"returned {type(value).__name__} {value!r}, which is not "
                             f"hashable (splitbrain.freeze makes JSON-like values hashable)",
                             op, state, with_state) from None
        return value

    def init(self) -> Hashable:
        return self._state("init", self._call("init", self.inner.init))

    def step(self, state: Hashable, op: Op) -> Hashable | None:
        new = self._call("step", self.inner.step, state, op, op=op, state=state, with_state=True)
        return self._state("step", new, op, state, True)

    def compile(self, op: Op) -> Callable[[Hashable], Hashable | None]:
        if not self._compiles:
            return lambda state: self.step(state, op)
        fn = self._call("compile", self.inner.compile, op, op=op)
        if not callable(fn):
            raise self._fail("compile", f"returned {fn!r}, which is not callable", op)

        def stepped(state: Hashable) -> Hashable | None:
            new = self._call("step", fn, state, op=op, state=state, with_state=True)
            return self._state("step", new, op, state, True)

        return stepped

    def check_op(self, op: Op) -> None:
        if op.f not in self.ops:
            raise ModelError(f"model {self.label} has no operation {op.f!r} ({_op_text(op)}); "
                             f"its operations are {', '.join(self.ops)}: add {op.f!r} to its "
                             f"ops and handle it in step, or check with another model")
        try:
            self.inner.check_op(op)
        except BadInput:
            raise
        except Exception as e:
            raise ModelError(f"model {self.label}: check_op on {_op_text(op)} raised "
                             f"{type(e).__name__}: {e}; check_op(op) must return None or raise "
                             f"splitbrain.BadInput") from None

    def partition(self, ops: list[Op]) -> dict[Hashable, list[Op]]:
        parts = self._call("partition", self.inner.partition, ops)
        if not isinstance(parts, dict) or not all(isinstance(p, list) for p in parts.values()):
            raise self._fail("partition", f"returned {type(parts).__name__}")
        return parts

    def constrains(self, op: Op) -> bool:
        return bool(self._call("constrains", self.inner.constrains, op, op=op))

    def relevant(self, op: Op) -> bool:
        return bool(self._call("relevant", self.inner.relevant, op, op=op))

    def behaviour(self, op: Op) -> Hashable:
        return self._state("behaviour", self._call("behaviour", self.inner.behaviour, op, op=op),
                           op)

    def describe_op(self, op: Op) -> str:
        return str(self._call("describe_op", self.inner.describe_op, op, op=op))

    def describe_state(self, state: Hashable) -> str:
        return str(self._call("describe_state", self.inner.describe_state, state, state=state,
                              with_state=True))

    def why(self, op: Op, states: list[Hashable]) -> str:
        return str(self._call("why", self.inner.why, op, states, op=op))

    def _may_reach(self, state: Hashable, read: Op) -> bool:
        assert self.inner.may_reach is not None  # set only when the inner model has one
        return bool(self._call("may_reach", self.inner.may_reach, state, read, op=read,
                               state=state, with_state=True))
