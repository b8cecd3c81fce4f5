"""A node's clock in the simulation: the node's :class:`splitbrain.db.env.Clock` contract on
the virtual loop's time, with a fixed skew and a drift rate of its own.

``wall() = epoch + skew + t * (1 + drift) + offset`` and ``monotonic()`` advances
``(1 + drift) * rate`` seconds per virtual second, ``t`` being the loop's virtual time.
``offset`` and ``rate`` are the nemesis's knobs (the clock and clock-rate faults set them, as
``PUT /admin/clock`` does on a real node; a new rate continues from where the monotonic clock
was, as the real clock's does); ``skew`` and ``drift`` are the world's, drawn per node from the
seed. A clock is the node's hardware: it survives the node's restarts.
"""

from __future__ import annotations

import asyncio
from typing import Callable

EPOCH = 1_700_000_000.0


class SimClock:
    """One node's clock (see the module docstring)."""

    def __init__(self, skew: float = 0.0, drift: float = 0.0):
        self.skew = skew
        self.drift = drift
        self.offset = 0.0
        self.rate = 1.0
        self._base = 0.0  # monotonic() at virtual time _anchor
        self._anchor = 0.0
        self._now: Callable[[], float] = _now

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Read ``loop``'s time from now on instead of the running loop's: the same while
        ``loop`` runs, and cheaper (asyncio.get_running_loop makes a system call, and nodes
        read their clocks ~6,000 times a seed)."""
        self._now = loop.time

    def monotonic(self) -> float:
        return self._base + (self._now() - self._anchor) * (1.0 + self.drift) * self.rate

    def set_rate(self, rate: float) -> None:
        self._base, self._anchor, self.rate = self.monotonic(), self._now(), rate

    def wall(self) -> float:
        return EPOCH + self.skew + self._now() * (1.0 + self.drift) + self.offset


def _now() -> float:
    """The running loop's (virtual) time."""
    return asyncio.get_running_loop().time()
