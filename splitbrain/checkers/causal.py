"""Causality between the values of one dynamo-mode key, from the history alone.

A dynamo write replaces exactly the versions its causal context covers. The context is opaque,
but the harness records what the write's context was made of: a write is a read-modify-write
whose completion has ``meta.read``, the siblings it read (their values), and
``meta.read_context``, the context it sent back. A write therefore directly covers the values
in ``meta.read`` (or, when only ``meta.read_context`` is recorded, the values of the reads that
returned that context), and transitively everything those values' writes covered. Values are
assumed unique per key (the register workload writes 1, 2, 3...), so a value names its write.
"""

from __future__ import annotations

from typing import Any, Hashable

from splitbrain.checkers.keyed import freeze, meta, read_values
from splitbrain.history import Op


class Causality:
    """The covers-relation among a key's written values. ``ops`` are the key's ops."""

    def __init__(self, ops: list[Op]):
        read_contexts: dict[Any, set[Hashable]] = {}
        for op in ops:
            if op.f == "read" and op.ok and meta(op, "context") is not None:
                read_contexts.setdefault(meta(op, "context"), set()).update(
                    freeze(v) for v in read_values(op))
        self.writer: dict[Hashable, Op] = {}
        self.direct: dict[Hashable, frozenset[Hashable]] = {}
        for op in ops:
            if op.f != "write":
                continue
            v = freeze(op.value)
            self.writer.setdefault(v, op)
            if meta(op, "read") is not None:
                covered = {freeze(x) for x in meta(op, "read")}
            else:
                covered = read_contexts.get(meta(op, "read_context"), set())
            self.direct[v] = self.direct.get(v, frozenset()) | frozenset(covered)

    def covered_by_effective_writes(self) -> set[Hashable]:
        """Every value some write that took effect (or may have: ``ok`` or ``info``) covered;
        direct coverage suffices since a covered value's own coverage is covered too."""
        out: set[Hashable] = set()
        for v, op in self.writer.items():
            if op.type != "fail":
                out |= self.direct.get(v, frozenset())
        return out

    def covers(self, b: Hashable, a: Hashable) -> bool:
        """Whether value ``a`` is in the causal past of value ``b``. The search skips writes that
        returned before ``a``'s write was invoked: their reads cannot have seen ``a``."""
        wa = self.writer.get(a)
        since = wa.call if wa is not None else float("-inf")
        stack = [b]
        seen = {b}
        while stack:
            for c in self.direct.get(stack.pop(), ()):
                if c == a:
                    return True
                if c in seen:
                    continue
                seen.add(c)
                wc = self.writer.get(c)
                if wc is not None and wc.ret >= since:
                    stack.append(c)
        return False

    def may_reflect(self, values: list[Any], a: Hashable) -> bool:
        """Whether a read that returned ``values`` reflects value ``a``, or may: some value in
        their causal past (searched as :meth:`covers` does) was written by a write whose
        context the history does not record (no ``meta.read`` nor ``meta.read_context``: an
        indeterminate read-modify-write whose read half is unknown), which may have covered
        ``a``."""
        if self.reflects(values, a):
            return True
        wa = self.writer.get(a)
        since = wa.call if wa is not None else float("-inf")
        stack = [freeze(v) for v in values]
        seen = set(stack)
        while stack:
            c = stack.pop()
            w = self.writer.get(c)
            if w is not None and meta(w, "read") is None and meta(w, "read_context") is None:
                return True
            for d in self.direct.get(c, ()):
                wd = self.writer.get(d)
                if d not in seen and (wd is None or wd.ret >= since):
                    seen.add(d)
                    stack.append(d)
        return False

    def reflects(self, values: list[Any], a: Hashable) -> bool:
        """Whether a read that returned ``values`` reflects value ``a`` (returns it, or a value
        whose write covered it)."""
        frozen = [freeze(v) for v in values]
        return a in frozen or any(self.covers(x, a) for x in frozen)
