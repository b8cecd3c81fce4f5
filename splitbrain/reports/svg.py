"""Scales and axis ticks for the inline SVG plots (no plotting library: the report stays small
and opens offline)."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Scale:
    """Maps data values in ``[lo, hi]`` to pixels in ``[p0, p1]``, linearly or by log10."""

    lo: float
    hi: float
    p0: float
    p1: float
    log: bool = False

    def __call__(self, v: float) -> float:
        lo, hi = (math.log10(self.lo), math.log10(self.hi)) if self.log else (self.lo, self.hi)
        if self.log:
            v = math.log10(max(v, self.lo))
        if hi == lo:
            return (self.p0 + self.p1) / 2
        return round(self.p0 + (v - lo) / (hi - lo) * (self.p1 - self.p0), 1)

    def ticks(self, count: int = 6) -> list[float]:
        """Round tick values inside the domain: powers of ten for a log scale, 1/2/5 steps
        otherwise."""
        if self.log:
            lo, hi = math.floor(math.log10(self.lo)), math.ceil(math.log10(self.hi))
            for mantissas in ((1,), (1, 2, 5), (1, 1.5, 2, 3, 5, 7)):
                ticks = [m * 10.0 ** e for e in range(lo, hi + 1) for m in mantissas
                         if self.lo <= m * 10.0 ** e <= self.hi]
                if len(ticks) >= 2:
                    return [float(f"{t:.3g}") for t in ticks]
            return [float(f"{self.lo:.2g}"), float(f"{self.hi:.2g}")]
        span = self.hi - self.lo
        if span <= 0:
            return [self.lo]
        raw = span / max(count, 1)
        mag = 10 ** math.floor(math.log10(raw))
        step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
        first = math.ceil(self.lo / step) * step
        return [round(first + i * step, 10) for i in range(int((self.hi - first) / step) + 1)]


def tick_label(v: float) -> str:
    """A tick value short enough for an axis: ``0.5``, ``20``, ``1000``, ``25k``, ``3M``."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e4, "k")):
        if abs(v) >= scale:
            return tick_label(v / (1e3 if suffix == "k" else scale)) + suffix
    if v == int(v):
        return str(int(v))
    return f"{v:.3g}"
