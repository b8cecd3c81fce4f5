"""Gossip membership with failure detection (Dynamo, SOSP 2007, section 4.8), without I/O.

Every node keeps a heartbeat ``(incarnation, beat)`` per member: it bumps its own on each gossip
round and pushes the whole table to a few random peers, which merge it (higher wins) and answer
with theirs. A member whose heartbeat has not advanced for ``failure_timeout`` seconds is down:
a paused or dead node stops beating and everyone notices, with no word from the tester. The
incarnation (bumped at every start) makes a restarted node's fresh beats win.

A peer that does not answer this node's requests is also *suspected* locally (the link to it
may be cut while others still hear it); any answer from it clears that.
"""

from __future__ import annotations

import random
from typing import Callable


class Membership:
    """The view of node ``name`` over ``members`` (itself included). ``now`` is a monotonic
    clock in seconds. Members start up, with a full ``failure_timeout`` of grace."""

    def __init__(self, name: str, members: list[str], incarnation: int, failure_timeout: float,
                 now: Callable[[], float]):
        self.name = name
        self.failure_timeout = failure_timeout
        self.now = now
        t = now()
        self.beats: dict[str, tuple[int, int]] = {m: (0, 0) for m in members}
        self.beats[name] = (incarnation, 0)
        self.changed: dict[str, float] = {m: t for m in members}
        self.suspected: set[str] = set()

    @property
    def peers(self) -> list[str]:
        return [m for m in self.beats if m != self.name]

    def tick(self) -> dict[str, list[int]]:
        """Bump this node's heartbeat; return the table to gossip."""
        inc, beat = self.beats[self.name]
        self.beats[self.name] = (inc, beat + 1)
        self.changed[self.name] = self.now()
        return {m: list(b) for m, b in self.beats.items()}

    def merge(self, table: dict[str, list[int]]) -> None:
        """Take every heartbeat in ``table`` newer than ours."""
        t = self.now()
        for member, beat in table.items():
            if member == self.name or member not in self.beats:
                continue
            beat = (beat[0], beat[1])
            if beat > self.beats[member]:
                self.beats[member] = beat
                self.changed[member] = t

    def heard_from(self, peer: str) -> None:
        """``peer`` answered one of our requests: the link works."""
        self.suspected.discard(peer)

    def suspect(self, peer: str) -> None:
        """``peer`` left one of our requests unanswered."""
        if peer != self.name:
            self.suspected.add(peer)

    def is_up(self, member: str) -> bool:
        if member == self.name:
            return True
        return (member not in self.suspected
                and self.now() - self.changed.get(member, float("-inf")) <= self.failure_timeout)

    def view(self) -> dict[str, str]:
        """``{peer: "up" | "down"}``."""
        return {m: "up" if self.is_up(m) else "down" for m in self.peers}

    def gossip_targets(self, rng: random.Random, fanout: int) -> list[str]:
        """``fanout`` random peers, up or not (gossip is how a down peer is seen back)."""
        peers = self.peers
        return rng.sample(peers, min(fanout, len(peers)))
