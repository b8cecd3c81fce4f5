"""Consistent hashing (splitbrain/db/ring.py) and Merkle trees (splitbrain/db/merkle.py)."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from splitbrain.db.merkle import BUCKETS, LeafHashes, MerkleTree, item_hash, key_bucket
from splitbrain.db.ring import Ring

NAMES = ["n1", "n2", "n3", "n4", "n5"]


@given(st.text(min_size=1, max_size=20))
def test_preference_list_lists_every_node_once_starting_with_the_owners(key):
    ring = Ring(NAMES, 16)
    pref = ring.preference_list(key)
    assert sorted(pref) == NAMES
    assert ring.owners(key, 3) == pref[:3]
    assert ring.range_nodes(ring.range_of(key)) == pref
    assert Ring(list(reversed(NAMES)), 16).preference_list(key) == pref


def test_owned_ranges_agree_with_owners():
    ring = Ring(NAMES, 8)
    for i in range(200):
        key = f"k{i}"
        for name in NAMES:
            assert (ring.range_of(key) in ring.owned_ranges(name, 3)) == (name in ring.owners(key, 3))


def test_vnodes_spread_keys_over_nodes():
    ring = Ring(NAMES, 64)
    first = Counter(ring.preference_list(f"key-{i}")[0] for i in range(10_000))
    assert set(first) == set(NAMES)
    assert max(first.values()) < 2.5 * min(first.values())


def leaves_of(items: dict[str, bytes]) -> list[int]:
    leaves = [0] * BUCKETS
    for key, digest in items.items():
        leaves[key_bucket(key)] ^= item_hash(key, digest)
    return leaves


digests = st.dictionaries(st.text(max_size=6), st.binary(min_size=8, max_size=8), max_size=40)


@settings(max_examples=200)
@given(digests, digests)
def test_descent_finds_exactly_the_buckets_of_differing_keys(a, b):
    differing = {k for k in set(a) | set(b) if a.get(k) != b.get(k)}
    found = MerkleTree(leaves_of(a)).descend(MerkleTree(leaves_of(b)))
    assert set(found) == {key_bucket(k) for k in differing}
    assert (MerkleTree(leaves_of(a)).root == MerkleTree(leaves_of(b)).root) == (not differing)


@given(st.lists(st.tuples(st.sampled_from("abcdef"), st.binary(min_size=8, max_size=8))))
def test_incremental_leaves_equal_a_rebuild(updates):
    hashes, current = LeafHashes(), {}
    for key, digest in updates:
        hashes.update(0, key, current.get(key), digest)
        current[key] = digest
    assert hashes.tree(0).levels == MerkleTree(leaves_of(current)).levels
