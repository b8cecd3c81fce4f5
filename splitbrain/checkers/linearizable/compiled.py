"""The compiled search (``_wgl.c``) for the register models, with the pure-Python search of
:mod:`.search` as the fallback when the extension is not built.

Values are interned to integers and ops encoded as READ a / WRITE a / CAS a b / NOOP; the C code
runs the same algorithm and the same twins rule as :func:`.search.search` (the tests compare the
two on random histories). The prefix it returns carries op positions only: the checker replays
the states on the original ops.
"""

from __future__ import annotations

from typing import Hashable

from splitbrain.checkers.linearizable.models import KV, CasRegister, Model, Register, freeze
from splitbrain.checkers.linearizable.search import Budget, Outcome, entry_order, search, twins_of
from splitbrain.history import Op

try:
    from splitbrain.checkers.linearizable import _wgl
except ImportError:  # not built (no compiler): the pure-Python search does the work
    _wgl = None

NOOP, READ, WRITE, CAS = 0, 1, 2, 3
_STATUS = {1: True, 0: False, 2: None, 3: None}
_REASON = {2: "the time limit ran out", 3: "the memory limit ran out"}


def available(model: Model) -> bool:
    """Whether the compiled search can run ``model`` (exactly a built-in register model)."""
    return _wgl is not None and type(model) in (Register, CasRegister, KV)


def search_any(ops: list[Op], model: Model, budget: Budget) -> Outcome:
    """The compiled search when it can run ``model``, else the Python one."""
    return search_compiled(ops, model, budget) if available(model) else search(ops, model, budget)


def search_compiled(ops: list[Op], model: Model, budget: Budget) -> Outcome:
    """:func:`.search.search`, in C. Requires :func:`available`."""
    ids: dict[Hashable, int] = {}

    def vid(v: Hashable) -> int:
        return ids.setdefault(v, len(ids))

    init = vid(model.init())
    kinds, a, b = bytearray(), [], []
    for op in ops:
        if op.f == "write":
            kinds.append(WRITE), a.append(vid(freeze(op.value))), b.append(0)
        elif op.f == "cas":
            expected, new = op.value
            kinds.append(CAS), a.append(vid(freeze(expected))), b.append(vid(freeze(new)))
        elif op.f == "read" and model.constrains(op):
            kinds.append(READ), a.append(vid(freeze(op.output))), b.append(0)
        else:
            kinds.append(NOOP), a.append(0), b.append(0)
    twin_start, twin_list = [0], []
    for tw in twins_of(ops, model):
        twin_list.extend(tw)
        twin_start.append(len(twin_list))
    has_ret = bytes(op.type == "ok" for op in ops)
    status, prefix, stuck, explored = _wgl.search(
        bytes(kinds), a, b, has_ret, entry_order(ops), twin_start, twin_list, init,
        -1.0 if budget.deadline is None else budget.deadline,
        0 if budget.memory_limit is None else max(1, budget.memory_limit))
    return Outcome(_STATUS[status], [(i, None) for i in prefix], None if stuck < 0 else stuck,
                   explored, _REASON.get(status))
