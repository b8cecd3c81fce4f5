"""A run's random draws, recorded and played: the choice sequence the shrinker edits (as
Hypothesis shrinks a test case by editing the sequence of choices it drew).

Rules of this module:

1. A seed's run draws all its randomness from named, seeded generators (sources, handed out
   by a :data:`~splitbrain.harness.interfaces.RandomSource`), each name asked for once:
   ``world`` (the links, clocks and disks :func:`splitbrain.sim.world.draw` picks), ``net``
   (every message's fate), ``workload`` and ``nemesis`` (the runner's generators: op values,
   keys and pacing; fault targets) and ``node/<name>/<start>`` (each incarnation of a node:
   election timeouts, gossip targets...).
2. A draw is a number ``u`` in [0, 1). ``random()`` returns one draw; ``getrandbits(k)``
   takes one draw per 32 bits, low bits first, each giving ``floor(u * 2**bits)``. Every other
   method of :class:`random.Random` (``uniform``, ``choice``, ``sample``...) is built on these
   two, so every value a source gives comes from its draws.
3. Recording is transparent: a :class:`Recording` source gives exactly what
   ``random.Random(seed)`` gives, and keeps the draws it gave.
4. A :class:`PlayedSource` gives its draws in order and, once they run out, ``0.0`` for
   every further draw: the simplest draw (the smallest value of every range: no jitter, the
   first choice). The network tests its faults so that 0.0 means none (loss, duplication and
   reordering happen when a draw is above one minus their probability), and a world drawn
   from zeros has those rates at 0. The same draws give the same run in any process.
5. A draw is trivial when it is ``0.0`` (:func:`splitbrain.replay.nontrivial` counts the
   others); a played sequence is stored without its trailing trivial draws (rule 4 gives
   them back). A replay file carries them (:mod:`splitbrain.replay`, rule 9).

Sources are only recorded or played when the shrinker asks (:class:`Recorder`,
:class:`Player`); a plain run uses ``random.Random`` itself, so its hot paths are untouched.
"""

from __future__ import annotations

import random
from typing import Mapping, Sequence

from splitbrain.replay import Draws

#: The most bits one draw gives to ``getrandbits`` (rule 2).
CHUNK = 32


class Recording(random.Random):
    """``random.Random(seed)`` that keeps every draw it gives in :attr:`draws` (rule 3)."""

    def __init__(self, seed: int | str):
        self.draws: list[float] = []
        super().__init__(seed)

    def random(self) -> float:
        u = super().random()
        self.draws.append(u)
        return u

    def getrandbits(self, k: int) -> int:
        r = super().getrandbits(k)
        for low in range(0, k, CHUNK):
            bits = min(CHUNK, k - low)
            self.draws.append(((r >> low) & ((1 << bits) - 1)) / (1 << bits))
        return r


class PlayedSource(random.Random):
    """A source that gives ``draws`` in order, then ``0.0`` (rule 4)."""

    def __init__(self, draws: Sequence[float]):
        self._draws = draws
        self.used = 0
        super().__init__(0)

    def random(self) -> float:
        i = self.used
        self.used = i + 1
        return self._draws[i] if i < len(self._draws) else 0.0

    def getrandbits(self, k: int) -> int:
        r = 0
        for low in range(0, k, CHUNK):
            bits = min(CHUNK, k - low)
            r |= int(self.random() * (1 << bits)) << low
        return r


class Recorder:
    """A :data:`~splitbrain.harness.interfaces.RandomSource` whose sources record (rule 3);
    :meth:`draws` is what they drew."""

    def __init__(self) -> None:
        self._sources: dict[str, Recording] = {}

    def __call__(self, name: str, seed: int | str) -> random.Random:
        if name in self._sources:  # its draws could not be told apart when played
            raise ValueError(f"a run asked twice for the random source {name!r}; give each "
                             f"generator of a run its own name")
        source = self._sources[name] = Recording(seed)
        return source

    def draws(self) -> Draws:
        """Every source's draws so far, by name, trailing trivial draws dropped (rule 5)."""
        return {name: trimmed(s.draws) for name, s in sorted(self._sources.items())}


class Player:
    """A :data:`~splitbrain.harness.interfaces.RandomSource` whose sources play ``draws``
    (rule 4; a source ``draws`` does not name plays none of its own: all trivial)."""

    def __init__(self, draws: Mapping[str, Sequence[float]]):
        self._draws = draws

    def __call__(self, name: str, seed: int | str) -> random.Random:
        return PlayedSource(self._draws.get(name, ()))


def trimmed(draws: Sequence[float]) -> tuple[float, ...]:
    """``draws`` without its trailing trivial draws (rule 5)."""
    end = len(draws)
    while end and draws[end - 1] == 0.0:
        end -= 1
    return tuple(draws[:end])
