"""The max register's sequential specification, as a splitbrain Model."""

from __future__ import annotations

from typing import Hashable

from splitbrain import Model, Op


class MaxRegister(Model):
    """``write v`` keeps max(state, v); ``read`` returns the state (0 at first)."""

    name = "max-register"
    noun = "the max register"
    ops = ("write", "read")
    reads = ("read",)
    default_initial = 0

    def step(self, state: Hashable, op: Op) -> Hashable | None:
        if op.f == "write":
            return max(state, op.value)
        if self.constrains(op) and op.output != state:
            return None
        return state
