"""Leaving out crashed ops that cannot matter, before the search.

Rule (unobserved crashed writes, registers). A crashed (``info``) ``write v`` or ``cas [a v]``
whose value ``v`` no remaining op observes (no ok read returned ``v``, no remaining ``cas``
expects ``v``) can be left out.
*Proof.* Let L be a valid linearization containing such an op c. After c the register holds v.
The op after c in L (if any) cannot be a read (none returns v) nor a cas (none expects v), so it
is a write, whose resulting state does not depend on the state before it. So L without c passes
through the same states everywhere else and is valid; real-time order is kept by removing an
element; and a crashed op may be left out. Applied repeatedly (leaving out a cas may leave its
expected value unobserved), each application keeps the verdict.

Rule (unobserved crashed appends, kv-append). A crashed ``append t`` or ``put t`` whose ``t`` is
non-empty and occurs in no ok read's output can be left out.
*Proof.* Let L be valid with such an op c. Every state from c up to the next put (or the end)
contains t (appends keep the prefix; ``put t`` starts with t), so no read lies in that stretch
(none returns a string containing t): the ops there are puts and appends, always legal. L
without c changes only the states in that stretch, which nobody reads, and from the next put on
the states are equal again. So L without c is valid.
"""

from __future__ import annotations

from collections import Counter as Multiset

from splitbrain.checkers.linearizable.models import CasRegister, KVAppend, Model, Register, freeze
from splitbrain.history import Op


def prune(ops: list[Op], model: Model) -> list[Op]:
    """``ops`` without the crashed ops the rules above prove irrelevant (order kept)."""
    if isinstance(model, Register):
        return _prune_register(ops, isinstance(model, CasRegister))
    if isinstance(model, KVAppend):
        return _prune_append(ops, model)
    return ops


def _prune_register(ops: list[Op], has_cas: bool) -> list[Op]:
    observed: Multiset = Multiset()
    for op in ops:
        if op.f == "read" and op.type == "ok":
            observed[freeze(op.output)] += 1
        elif has_cas and op.f == "cas":
            observed[freeze(op.value[0])] += 1
    dropped: set[int] = set()
    changed = True
    while changed:
        changed = False
        for pos, op in enumerate(ops):
            if op.type != "info" or pos in dropped or op.f not in ("write", "cas"):
                continue
            written = freeze(op.value[1] if op.f == "cas" else op.value)
            if observed[written] == 0:
                dropped.add(pos)
                changed = True
                if op.f == "cas":
                    observed[freeze(op.value[0])] -= 1
    return [op for pos, op in enumerate(ops) if pos not in dropped]


def _prune_append(ops: list[Op], model: KVAppend) -> list[Op]:
    outputs = [op.output for op in ops
               if op.f in model.reads and op.type == "ok" and isinstance(op.output, str)]
    text = "\x00".join(outputs)

    def irrelevant(op: Op) -> bool:
        return (op.type == "info" and op.f not in model.reads and isinstance(op.value, str)
                and op.value != "" and "\x00" not in op.value and op.value not in text)

    return [op for op in ops if not irrelevant(op)]
