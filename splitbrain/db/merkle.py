"""Merkle trees over a key range, for anti-entropy (Dynamo, SOSP 2007, section 4.7).

The keys of a range fall into ``BUCKETS`` leaf buckets by hash. A leaf's hash is the XOR of the
64-bit hashes of ``(key, digest of its state)`` of its keys, so a write updates it in O(1)
(:class:`LeafHashes`); inner nodes hash their two children. Two replicas compare trees from the
root down and exchange only the keys of the leaves that differ (:meth:`MerkleTree.descend`).
"""

from __future__ import annotations

import hashlib

BUCKETS = 16  # a power of two
DEPTH = BUCKETS.bit_length() - 1


def _h(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=8).digest()


def item_hash(key: str, digest: bytes) -> int:
    return int.from_bytes(_h(key.encode("utf-8", "surrogatepass") + b"\0" + digest), "big")


def key_bucket(key: str) -> int:
    """The leaf bucket of ``key``; it depends on the key only, so replicas agree on it."""
    return int.from_bytes(_h(key.encode("utf-8", "surrogatepass")), "big") % BUCKETS


class MerkleTree:
    """A binary tree over ``BUCKETS`` leaves. ``levels[0]`` is ``[root]``; ``levels[DEPTH]``
    are the leaves."""

    def __init__(self, leaves: list[int]):
        if len(leaves) != BUCKETS:
            raise ValueError(f"a tree needs {BUCKETS} leaves")
        level = [leaf.to_bytes(8, "big") for leaf in leaves]
        self.levels = [level]
        while len(level) > 1:
            level = [_h(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
            self.levels.insert(0, level)

    @property
    def root(self) -> bytes:
        return self.levels[0][0]

    def mismatches(self, level: int, hashes: dict[int, bytes]) -> list[int]:
        """The indices at ``level`` whose hash differs from the other replica's ``hashes``."""
        return sorted(i for i, h in hashes.items() if self.levels[level][i] != h)

    def children(self, level: int, indices: list[int]) -> dict[int, bytes]:
        """The hashes, one level down, of the children of ``indices`` at ``level``."""
        below = self.levels[level + 1]
        return {c: below[c] for i in indices for c in (2 * i, 2 * i + 1)}

    def descend(self, other: "MerkleTree") -> list[int]:
        """The leaves that differ from ``other``'s, found the way the protocol finds them:
        level by level from the root, comparing only children of mismatching nodes."""
        frontier = self.mismatches(0, {0: other.root})
        for level in range(DEPTH):
            frontier = self.mismatches(level + 1, other.children(level, frontier))
        return frontier


class LeafHashes:
    """The leaf hashes of every range of one node's data, updated incrementally."""

    def __init__(self) -> None:
        self._leaves: dict[int, list[int]] = {}

    def update(self, range_id: int, key: str, old: bytes | None, new: bytes | None) -> None:
        """Key ``key`` of range ``range_id`` changed from digest ``old`` to ``new`` (None:
        absent)."""
        leaves = self._leaves.setdefault(range_id, [0] * BUCKETS)
        bucket = key_bucket(key)
        for digest in (old, new):
            if digest is not None:
                leaves[bucket] ^= item_hash(key, digest)

    def tree(self, range_id: int) -> MerkleTree:
        return MerkleTree(self._leaves.get(range_id, [0] * BUCKETS))

