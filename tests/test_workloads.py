"""Workloads without a cluster: the ops they generate, and how each op becomes requests."""

from __future__ import annotations

import asyncio
import random
from collections import Counter, defaultdict

import pytest

from fake_cluster import FakeClient, FakeStore
from splitbrain.errors import BadInput
from splitbrain.harness import generators as g
from splitbrain.harness.generators import Context, Invocation
from splitbrain.workloads import WORKLOADS, make


def ops(workload, n: int, seed: int = 4) -> list[Invocation]:
    gen = workload.generator()
    c = Context(0.0, 0, frozenset({0}), random.Random(seed))
    return g.drain(gen, c, limit=n)


@pytest.mark.parametrize("mode", ["dynamo", "lww", "dynamodb"])
def test_register_bounds_ops_per_key_and_writes_unique_values(mode):
    w = make("register", mode)
    invs = ops(w, 2000)
    per_key = Counter(i.key for i in invs)
    assert max(per_key.values()) <= w.ops_per_key
    assert len(per_key) >= 2000 // w.ops_per_key
    written = defaultdict(list)
    for i in invs:
        if i.f == "write":
            written[i.key].append(i.value)
        elif i.f == "cas":
            written[i.key].append(i.value[1])
    for values in written.values():
        assert len(values) == len(set(values))
    fs = Counter(i.f for i in invs)
    consistencies = {i.consistency for i in invs if i.f == "read"}
    if mode == "dynamodb":
        assert fs["cas"] > 100 and consistencies == {"strong", "eventual"}
    else:
        assert "cas" not in fs and consistencies == {"eventual"}
    assert {i.key for i in w.final_reads()} == set(per_key)


def test_set_adds_unique_elements_to_many_keys():
    w = make("set", "dynamo")
    invs = ops(w, 1000)
    adds = [i.value for i in invs if i.f == "add"]
    assert len(adds) == len(set(adds)) > 600
    assert {i.key for i in invs} == set(w.keys) and len(w.keys) == 32
    assert {i.key for i in w.final_reads()} == set(w.keys)


def test_set_keys_cover_every_replica_set_of_five_nodes():
    """Every dynamodb group of 5 nodes holds a key, and so do 8 of the 10 sets of 3 nodes a
    dynamo preference list can be (the other two own small arcs of the ring)."""
    from itertools import combinations

    from splitbrain.db.dynamodb import partition_of, placement
    from splitbrain.db.ring import Ring

    names = [f"n{i}" for i in range(1, 6)]
    keys = make("set", "dynamo").keys
    ring = Ring(names, 16)
    owner_sets = {frozenset(ring.owners(k, 3)) for k in keys}
    assert owner_sets <= {frozenset(c) for c in combinations(names, 3)} and len(owner_sets) >= 8
    groups = placement(names, 8, 3)
    assert {partition_of(k, 8) for k in keys} == set(groups)  # every dynamodb group


def run(coro):
    return asyncio.run(coro)


def test_dynamo_set_add_merges_siblings_by_union_and_writes_back_with_the_context():
    store = FakeStore("dynamo")
    store.data["s0"] = [[1, 2], [3]]           # two siblings, as after a partition
    c = FakeClient(store, "fake://n1")
    w = make("set", "dynamo")
    reply = run(w.invoke(c, Invocation("add", key="s0", value=9)))
    assert reply.type == "ok" and reply.value == 9
    assert store.data["s0"] == [[1, 2, 3, 9]]  # the context replaced both siblings
    assert reply.meta["read"] == [[1, 2], [3]] and reply.meta["read_context"] == "ctx0"
    read = run(w.invoke(c, Invocation("read", key="s0")))
    assert read.value == [1, 2, 3, 9] and read.meta["sibling_count"] == 1


def test_lww_set_add_is_a_read_modify_write_and_dynamodb_adds_atomically():
    store = FakeStore("lww")
    c = FakeClient(store, "fake://n1")
    w = make("set", "lww")
    run(w.invoke(c, Invocation("add", key="s1", value=4)))
    run(w.invoke(c, Invocation("add", key="s1", value=5)))
    assert store.data["s1"] == [[4, 5]]
    assert run(w.invoke(c, Invocation("read", key="s1"))).value == [4, 5]
    store = FakeStore("dynamodb")
    c = FakeClient(store, "fake://n1")
    reply = run(make("set", "dynamodb").invoke(c, Invocation("add", key="s1", value=4)))
    assert reply.value == 4 and store.data["s1"] == [[4]] and store.requests == 1


def test_register_ops_against_a_node():
    store = FakeStore("dynamodb")
    c = FakeClient(store, "fake://n1")
    w = make("register", "dynamodb")
    assert run(w.invoke(c, Invocation("read", key="r0", consistency="strong"))).value is None
    assert run(w.invoke(c, Invocation("write", key="r0", value=1))).type == "ok"
    assert run(w.invoke(c, Invocation("read", key="r0", consistency="strong"))).value == 1
    ok = run(w.invoke(c, Invocation("cas", key="r0", value=[1, 2])))
    assert ok.type == "ok" and ok.value == [1, 2]
    bad = run(w.invoke(c, Invocation("cas", key="r0", value=[1, 3])))
    assert bad.type == "fail" and bad.error == "condition-failed"
    # dynamo: a write reads the siblings and replaces them, recording what it covered.
    store = FakeStore("dynamo")
    store.data["r0"] = [1, 2]
    c = FakeClient(store, "fake://n1")
    reply = run(make("register", "dynamo").invoke(c, Invocation("write", key="r0", value=3)))
    assert store.data["r0"] == [3] and reply.meta["read"] == [1, 2]
    assert run(make("register", "dynamo").invoke(c, Invocation("read", key="r0"))).value == [3]


@pytest.mark.parametrize("mode", ["dynamo", "lww", "dynamodb"])
def test_counter_adds_and_reads(mode):
    c = FakeClient(FakeStore(mode), "fake://n1")
    w = make("counter", mode)
    for d in (2, 3):
        assert run(w.invoke(c, Invocation("add", key="c0", value=d))).type == "ok"
    assert run(w.invoke(c, Invocation("read", key="c0"))).value == 5


def test_final_reads_are_pinned_to_the_node_flagged_and_retried_until_ok():
    w = make("set", "dynamodb")
    gen = w.final_generator("n2")
    c = Context(0.0, "n2", frozenset({"n2"}), random.Random(1))
    first = gen.next(c)
    # Eventual even in dynamodb: each node's own replica answers, so replicas are compared.
    assert first.node == "n2" and first.meta == {"final": True}
    assert first.consistency == "eventual"
    gen.update(c, first, "fail")
    again = gen.next(c)
    assert again.key == first.key
    gen.update(c, again, "ok")
    assert gen.next(c).key != first.key


def test_keys_sizes_the_register_and_the_set_and_describe_records_it():
    register = make("register", "dynamodb", keys=12)
    assert len({op.key for op in ops(register, 400)}) >= 12
    assert len(register._active) == 12
    assert register.describe()["keys_in_flight"] == 12
    sets = make("set", "dynamo", keys=5)
    assert {op.key for op in ops(sets, 300)} == {f"s{i}" for i in range(5)}
    assert sets.describe()["keys"] == 5
    counter = make("counter", "dynamodb", keys=3)
    assert {op.key for op in ops(counter, 300)} == {"c0", "c1", "c2"}
    assert {i.key for i in counter.final_reads()} == {"c0", "c1", "c2"}
    assert {op.key for op in ops(make("counter", "dynamodb"), 50)} == {"c0"}


def test_keys_that_cannot_size_the_workload_are_bad_input():
    from splitbrain.workloads import check_keys

    with pytest.raises(BadInput, match="--keys must be at least 1, not 0"):
        make("register", "dynamodb", keys=0)
    with pytest.raises(BadInput, match=r"--keys sizes the built-in workloads \(register, set, "
                                       r"counter\), not mypkg.mod:Bank"):
        check_keys("mypkg.mod:Bank", 3)


def test_unknown_workload_is_bad_input():
    with pytest.raises(BadInput, match="use one of register, set, counter"):
        make("queue", "dynamo")
    assert set(WORKLOADS) == {"register", "set", "counter"}


def test_the_policy_knows_every_workload():
    from splitbrain.checkers import policy
    assert set(policy.WORKLOADS) == set(WORKLOADS)


@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_dynamodb_final_reads_are_eventual_so_each_replica_answers(name):
    w = make(name, "dynamodb")
    g = w.generator()
    for _ in range(20):  # the register workload reads back the keys it used
        g.next(Context(0.0, 0, frozenset({0}), random.Random(1)))
    assert {i.consistency for i in w.final_reads()} == {"eventual"}
