"""The world of one seed: the network, the clocks, the disks and the fault schedule's pace,
drawn from the seed (swarm testing: each seed gets its own mix and rates).

Every draw keeps within what the node assumes of its environment, so a failure is a bug and
not a broken assumption: clock drift stays well inside the Paxos lease's drift bound
(:class:`splitbrain.db.paxos.Timing`), and loss, duplication and reordering are what the
:class:`splitbrain.db.env.Transport` contract allows. Loss is packet loss under TCP, as on the
node's real links: retransmitted, so it delays messages (:mod:`.network`, rule 6).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from splitbrain.harness.interfaces import RandomSource, seeded
from splitbrain.sim.clock import SimClock
from splitbrain.sim.network import LinkParams, SimNetwork
from splitbrain.sim.storage import SimDisk

#: The largest clock drift drawn (relative rate error): a fifth of the lease's assumed bound.
MAX_DRIFT = 0.02

#: The range a long fault's length is drawn from (seconds): longer than a dynamodb lease (2 s)
#: plus an election, so that a cut-off leader's group elects another while the fault lasts
#: (what every lease bug needs), and long enough for hints to pile up for crashed owners.
LONG_FAULT = (4.0, 8.0)


@dataclass
class World:
    """What one seed's world is made of (test.json records it)."""

    links: dict[str, dict[str, float]]
    clocks: dict[str, dict[str, float]]
    sync_latency: dict[str, float]
    nemesis_interval: float
    nemesis: list[str]
    fault_seconds: float
    """How long each fault lasts: ``nemesis_interval`` (short faults) or a long one."""

    def network(self, names: list[str], seed: int, source: RandomSource = seeded
                ) -> SimNetwork:
        """The network of these links, its messages' fates drawn from ``source``'s ``net``."""
        params = {tuple(k.split("->")): LinkParams(**v) for k, v in self.links.items()}
        return SimNetwork(names, source("net", f"net/{seed}"), params)  # type: ignore[arg-type]

    def clock_of(self, name: str) -> SimClock:
        return SimClock(**self.clocks[name])

    def disk_of(self, name: str, *, lies: bool = False) -> SimDisk:
        return SimDisk(self.sync_latency[name], lies=lies)

    def describe(self) -> dict[str, Any]:
        return asdict(self)


def draw(names: list[str], seed: int, kinds: list[str], source: RandomSource = seeded
         ) -> World:
    """The world of ``seed`` for nodes ``names``: per directed link a latency of 0.1-2 ms with
    jitter and, each with probability 1/2 per seed, packet loss up to 5 %, duplication up to
    2 % and reordering up to 10 %; per node a clock skew up to +-0.25 s, a drift up to
    :data:`MAX_DRIFT` and a sync latency of 0.2-3 ms; a nemesis interval of 0.2-1.5 s; the
    fault kinds in play: each of ``kinds`` with probability 1/2, at least one; and how long
    each fault lasts: with probability 1/2 the interval, else :data:`LONG_FAULT` (drawn last,
    so that the other draws of a seed are what they were before it was added). The draws
    come from ``source``'s ``world``."""
    rng = source("world", f"world/{seed}")
    chosen = [k for k in kinds if rng.random() < 0.5]
    if kinds and not chosen:
        chosen = [rng.choice(kinds)]
    loss = rng.random() < 0.5
    duplicate = rng.random() < 0.5
    reorder = rng.random() < 0.5
    links = {}
    for a in names:
        for b in names:
            if a != b:
                links[f"{a}->{b}"] = {
                    "latency": rng.uniform(0.0001, 0.002), "jitter": rng.uniform(0, 0.001),
                    "loss": rng.uniform(0, 0.05) if loss else 0.0,
                    "duplicate": rng.uniform(0, 0.02) if duplicate else 0.0,
                    "reorder": rng.uniform(0, 0.1) if reorder else 0.0}
    clocks = {n: {"skew": rng.uniform(-0.25, 0.25), "drift": rng.uniform(-MAX_DRIFT, MAX_DRIFT)}
              for n in names}
    sync = {n: rng.uniform(0.0002, 0.003) for n in names}
    interval = rng.uniform(0.2, 1.5)
    length = rng.uniform(*LONG_FAULT) if rng.random() < 0.5 else interval
    return World(links, clocks, sync, nemesis_interval=interval, nemesis=chosen,
                 fault_seconds=length)
