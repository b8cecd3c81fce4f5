"""Rewriting a sub-history into an equivalent one the search handles faster.

Each rewrite maps ops one to one (same positions, same real-time intervals), so a linearization
order is legal for the rewritten history exactly when it is legal for the original: verdicts are
equal, and an explanation is built by replaying the order on the original ops.

Rewrite 1 (unobserved values, registers). Let O be the observed values: outputs of ok reads and
expected values of cas ops. Replace every written value outside O (by a write or as a cas's new
value) with one fresh value GARBAGE.
*Proof.* Fix an order of the ops and map states by phi(v) = v for v in O or the initial value,
GARBAGE otherwise. A register op's legality depends on the state only through equality with a
value in O (a read's output, a cas's expected value), and phi preserves equality and inequality
with every value of O (GARBAGE equals none of them). By induction on the order, the rewritten
run's state is phi of the original's at every step, so each op is legal in one run exactly when
it is in the other. (The gain: unobserved writes become twins, and memo states collapse.)

Rewrite 2 (self-revealing appends, kv-append). When every put/append value of the key is a
distinct non-empty string, the set of them is prefix-free (so a string splits into them in at
most one way), the initial value is "", and every ok read's output splits into distinct such
tokens t1..tk, then: a read of t1..tk becomes ``read tk`` (``read INIT`` for ""); ``put t``
becomes ``write t``; an ``append t`` that some read shows after p becomes ``cas [p t]`` (after
nothing: ``cas [INIT t]``); an append no read shows becomes ``write GARBAGE``. It applies only
when the reads agree (each token has one predecessor, and no put has one).
*Proof.* Fix an order. Original legal => rewritten legal: tokens are unique, so when a read
shows p just before t, no put came between ``append t`` and that read (a put would erase t),
so the string before ``append t`` ended with p (or was "", which happens only before every
write since no put writes ""): the cas succeeds. A read's last token is the last write before
it, so the rewritten read succeeds; an unobserved append can be followed, up to the next put,
only by unobserved appends (a read there would show its token), so mapping it to a blind write
of GARBAGE, which no read or cas expects, changes no legality. Rewritten legal => original
legal: a read of tk succeeding means the last write was op(tk); its cas chain forces the writes
just before it to be op(t_{k-1}), ..., op(t1), consecutively, starting at a put of t1 or at the
very beginning (INIT), so the original string is exactly t1..tk. Puts and appends are always
legal in the original.
"""

from __future__ import annotations

import dataclasses
from typing import Hashable

from splitbrain.checkers.linearizable.models import CasRegister, KVAppend, Model, Register, freeze
from splitbrain.history import Op


class _Token:
    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name


GARBAGE = _Token("<a value nobody observed>")
INIT = _Token("<initial>")


def reduce(ops: list[Op], model: Model) -> tuple[list[Op], Model, str | None]:
    """An equivalent (ops, model) pair for the search and the name of the rewrite applied (the
    input unchanged and None when none applies)."""
    if isinstance(model, KVAppend):
        tokens = _append_as_register(ops, model)
        if tokens is not None:
            return _collapse_unobserved(tokens), CasRegister(initial=INIT), "append-order"
        return ops, model, None
    if isinstance(model, Register):
        return _collapse_unobserved(ops), model, "unobserved-values"
    return ops, model, None


def _collapse_unobserved(ops: list[Op]) -> list[Op]:
    observed: set[Hashable] = set()
    for op in ops:
        if op.f == "read" and op.type == "ok":
            observed.add(freeze(op.output))
        elif op.f == "cas":
            observed.add(freeze(op.value[0]))
    out = []
    for op in ops:
        if op.f == "write" and freeze(op.value) not in observed:
            op = dataclasses.replace(op, value=GARBAGE, output=GARBAGE)
        elif op.f == "cas" and freeze(op.value[1]) not in observed:
            op = dataclasses.replace(op, value=[op.value[0], GARBAGE])
        out.append(op)
    return out


def _append_as_register(ops: list[Op], model: KVAppend) -> list[Op] | None:
    if model.initial != "":
        return None
    writers = [op for op in ops if op.f not in model.reads]
    tokens = {op.value for op in writers if isinstance(op.value, str)}
    if len(tokens) != len(writers) or "" in tokens or not _prefix_free(tokens):
        return None
    lengths = sorted({len(t) for t in tokens})
    pred: dict[str, Hashable] = {}
    reads: dict[int, Hashable] = {}
    for pos, op in enumerate(ops):
        if op.f not in model.reads:
            continue
        parts = _split(op.output, tokens, lengths)
        if parts is None or len(set(parts)) != len(parts):
            return None
        for before, t in zip([INIT] + parts, parts):
            if pred.setdefault(t, before) != before:
                return None
        reads[pos] = parts[-1] if parts else INIT
    out = []
    for pos, op in enumerate(ops):
        if pos in reads:
            out.append(dataclasses.replace(op, f="read", output=reads[pos]))
        elif op.f in ("put", "write"):
            if op.value in pred and pred[op.value] is not INIT:
                return None
            out.append(dataclasses.replace(op, f="write", output=op.value))
        elif op.value in pred:
            out.append(dataclasses.replace(op, f="cas", value=[pred[op.value], op.value]))
        else:
            out.append(dataclasses.replace(op, f="write", value=GARBAGE, output=GARBAGE))
    return out


def _prefix_free(tokens: set[str]) -> bool:
    ordered = sorted(tokens)
    return not any(b.startswith(a) for a, b in zip(ordered, ordered[1:]))


def _split(s: object, tokens: set[str], lengths: list[int]) -> list[str] | None:
    """``s`` as a concatenation of tokens (unique, as the set is prefix-free), or None."""
    if not isinstance(s, str):
        return None
    parts, i = [], 0
    while i < len(s):
        t = next((s[i:i + n] for n in lengths if s[i:i + n] in tokens), None)
        if t is None:
            return None
        parts.append(t)
        i += len(t)
    return parts

