"""A node's clock in the simulation: the node's :class:`splitbrain.db.env.Clock` contract on
the virtual loop's time, with a fixed skew and a drift rate of its own.

``monotonic() = t * (1 + drift)`` and ``wall() = epoch + skew + t * (1 + drift) + offset``,
``t`` being the loop's virtual time. ``offset`` is the nemesis's knob (the clock fault sets it,
as ``PUT /admin/clock`` does on a real node); ``skew`` and ``drift`` are the world's, drawn
per node from the seed. A clock is the node's hardware: it survives the node's restarts.
"""

from __future__ import annotations

import asyncio

EPOCH = 1_700_000_000.0


class SimClock:
    """One node's clock (see the module docstring)."""

    def __init__(self, skew: float = 0.0, drift: float = 0.0):
        self.skew = skew
        self.drift = drift
        self.offset = 0.0

    def monotonic(self) -> float:
        return asyncio.get_running_loop().time() * (1.0 + self.drift)

    def wall(self) -> float:
        return EPOCH + self.skew + self.monotonic() + self.offset
