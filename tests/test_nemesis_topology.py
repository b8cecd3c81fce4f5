"""Partition topologies (networkx graphs of who can talk to whom) and target choice: pure."""

from __future__ import annotations

import random

import networkx as nx
import pytest

from splitbrain.nemesis import topology
from splitbrain.nemesis.faults import Partition, choose_nodes

NAMES = {n: [f"n{i}" for i in range(1, n + 1)] for n in range(3, 10)}


def views(graph: nx.Graph) -> dict[str, frozenset[str]]:
    return {n: topology.view(graph, n) for n in graph}


@pytest.mark.parametrize("n", range(4, 10))
@pytest.mark.parametrize("seed", range(5))
def test_majorities_ring_every_node_sees_a_distinct_majority(n, seed):
    graph = topology.build("majorities-ring", NAMES[n], random.Random(seed))
    vs = views(graph)
    assert all(len(v) > n // 2 for v in vs.values()), vs
    assert len(set(vs.values())) == n, "two nodes see the same majority"
    assert any(len(v) < n for v in vs.values()), "nothing was cut"
    # Symmetric: a majorities ring is a partition of links, not of one-way reachability.
    cut = set(topology.links_to_cut(graph))
    assert all((b, a) in cut for a, b in cut)


def test_majorities_ring_needs_four_nodes():
    with pytest.raises(ValueError, match="at least 4 nodes"):
        topology.build("majorities-ring", NAMES[3], random.Random(0))


@pytest.mark.parametrize("n", range(3, 10))
def test_bridge_one_node_sees_both_sides_which_do_not_see_each_other(n):
    graph = topology.build("bridge", NAMES[n], random.Random(n))
    vs = views(graph)
    bridges = [node for node, v in vs.items() if len(v) == n]
    assert len(bridges) == 1
    rest = graph.copy()
    rest.remove_node(bridges[0])
    sides = sorted(len(c) for c in nx.connected_components(rest))
    assert sides == [(n - 1) // 2, n - 1 - (n - 1) // 2]
    assert nx.is_connected(graph)


@pytest.mark.parametrize("n", range(3, 10))
def test_halves_one_and_majority_minority_are_two_cliques(n):
    rng = random.Random(n)
    comps = lambda t: sorted(len(c) for c in nx.connected_components(
        topology.build(t, NAMES[n], rng)))
    assert comps("halves") == [n // 2, n - n // 2]
    assert comps("one") == [1, n - 1]
    minority, majority = comps("majority-minority")
    assert 1 <= minority <= (n - 1) // 2 and minority + majority == n


def test_links_to_cut_are_both_directions_of_each_missing_edge():
    graph = topology._groups(["a", "b", "c"], ["a"], ["b", "c"])
    assert topology.links_to_cut(graph) == [("a", "b"), ("a", "c"), ("b", "a"), ("c", "a")]


def test_unknown_topology_names_the_choices():
    with pytest.raises(ValueError, match="unknown partition topology 'ring'.*bridge"):
        topology.build("ring", NAMES[5], random.Random(0))


def test_partition_plan_is_reproducible_and_skips_topologies_too_big_for_the_cluster():
    a = [Partition().plan(NAMES[5], random.Random(7)) for _ in range(3)]
    assert a[0] == a[1] == a[2] and a[0]["f"] == "start-partition"
    small = {Partition().plan(NAMES[3], random.Random(s))["value"]["topology"]
             for s in range(40)}
    assert "majorities-ring" not in small and "bridge" in small


@pytest.mark.parametrize("n", range(1, 8))
def test_choose_nodes_sizes(n):
    names = [f"n{i}" for i in range(n)]
    rng = random.Random(n)
    assert len(choose_nodes(names, rng, ("one",))) == 1
    assert len(choose_nodes(names, rng, ("all",))) == n
    assert len(choose_nodes(names, rng, ("majority",))) == n // 2 + 1
    assert 1 <= len(choose_nodes(names, rng, ("minority",))) <= max(1, (n - 1) // 2)
