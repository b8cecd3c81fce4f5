"""Consistent hashing with virtual nodes (Dynamo, SOSP 2007, section 4.2).

Each physical node owns ``vnodes`` tokens on a 64-bit ring. A key hashes to a position; the
vnode whose token is the first at or after it (wrapping) owns the key's *range*. The key's
*preference list* walks the ring clockwise from there and lists every physical node once: the
first N are the key's owners, the rest are its fallbacks, in the order sloppy quorum uses them.
"""

from __future__ import annotations

import bisect
import hashlib
from functools import lru_cache


def hash64(data: str | bytes) -> int:
    """A stable 64-bit hash (the same on every node and every run)."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


class Ring:
    """The ring of ``names`` with ``vnodes`` tokens each. Immutable."""

    def __init__(self, names: list[str], vnodes: int):
        if not names or vnodes < 1:
            raise ValueError("a ring needs at least one node and one vnode per node")
        self.names = sorted(names)
        self.vnodes = vnodes
        pairs = sorted((hash64(f"{name}#{i}"), name) for name in self.names for i in range(vnodes))
        self.tokens = [t for t, _ in pairs]
        self.token_nodes = [n for _, n in pairs]
        self._walks = [self._walk(i) for i in range(len(self.tokens))]
        self.range_of = lru_cache(maxsize=1 << 16)(self._range_of)

    def _walk(self, start: int) -> tuple[str, ...]:
        seen: list[str] = []
        for j in range(len(self.tokens)):
            node = self.token_nodes[(start + j) % len(self.tokens)]
            if node not in seen:
                seen.append(node)
                if len(seen) == len(self.names):
                    break
        return tuple(seen)

    @property
    def ranges(self) -> int:
        """The number of ranges (one per vnode token)."""
        return len(self.tokens)

    def _range_of(self, key: str) -> int:
        return bisect.bisect_left(self.tokens, hash64(key)) % len(self.tokens)

    def preference_list(self, key: str) -> tuple[str, ...]:
        """Every physical node, in the order key ``key`` uses them: owners first."""
        return self._walks[self.range_of(key)]

    def range_nodes(self, range_id: int) -> tuple[str, ...]:
        """The preference list shared by every key of range ``range_id``."""
        return self._walks[range_id]

    def owners(self, key: str, n: int) -> tuple[str, ...]:
        return self.preference_list(key)[:n]

    def owned_ranges(self, name: str, n: int) -> list[int]:
        """The ranges whose N owners include ``name``."""
        return [r for r, walk in enumerate(self._walks) if name in walk[:n]]

    def describe(self) -> list[list]:
        """``[[token, node], ...]`` in ring order, for the status page."""
        return [[t, n] for t, n in zip(self.tokens, self.token_nodes)]
