"""Partition topologies, computed with networkx (pure: no I/O, randomness from the caller).

A topology is an undirected graph on the node names whose edges are the pairs that can still
talk. :func:`links_to_cut` turns it into the directed links the network must cut (both
directions of every missing edge). ``view(graph, node)`` is what a node can reach, itself
included.

* ``one``: one node isolated from all others.
* ``halves``: a random split into two halves (sizes n//2 and n - n//2).
* ``majority-minority``: a random minority of 1 .. (n-1)//2 nodes cut off from the majority.
* ``majorities-ring``: nodes on a random ring, each sees the nodes nearest to it on both sides,
  so that every node sees a majority and no two nodes see the same majority (n >= 4).
* ``bridge``: two halves that cannot talk to each other, and one node that talks to both.
"""

from __future__ import annotations

import random
from typing import Callable

import networkx as nx

from splitbrain.harness.interfaces import Link

TOPOLOGIES = ("one", "halves", "majority-minority", "majorities-ring", "bridge")


def _groups(names: list[str], *groups: list[str]) -> nx.Graph:
    g = nx.Graph()
    g.add_nodes_from(names)
    for group in groups:
        g.add_edges_from((a, b) for i, a in enumerate(group) for b in group[i + 1:])
    return g


def one(names: list[str], rng: random.Random) -> nx.Graph:
    lone = rng.choice(names)
    return _groups(names, [lone], [n for n in names if n != lone])


def halves(names: list[str], rng: random.Random) -> nx.Graph:
    order = rng.sample(names, len(names))
    cut = len(order) // 2
    return _groups(names, order[:cut], order[cut:])


def majority_minority(names: list[str], rng: random.Random) -> nx.Graph:
    order = rng.sample(names, len(names))
    k = rng.randint(1, max(1, (len(names) - 1) // 2))
    return _groups(names, order[:k], order[k:])


def majorities_ring(names: list[str], rng: random.Random) -> nx.Graph:
    n = len(names)
    if n < 4:
        raise ValueError(f"majorities-ring needs at least 4 nodes, not {n}")
    order = rng.sample(names, n)
    others = n // 2  # a majority is n//2 + 1 nodes: itself and n//2 others
    reach = (others + 1) // 2
    ring = nx.circulant_graph(n, range(1, reach + 1))
    return nx.relabel_nodes(ring, dict(enumerate(order)))


def bridge(names: list[str], rng: random.Random) -> nx.Graph:
    if len(names) < 3:
        raise ValueError(f"bridge needs at least 3 nodes, not {len(names)}")
    order = rng.sample(names, len(names))
    middle = order.pop()
    cut = len(order) // 2
    return _groups(names, [*order[:cut], middle], [*order[cut:], middle])


BUILDERS: dict[str, Callable[[list[str], random.Random], nx.Graph]] = {
    "one": one, "halves": halves, "majority-minority": majority_minority,
    "majorities-ring": majorities_ring, "bridge": bridge,
}


def build(topology: str, names: list[str], rng: random.Random) -> nx.Graph:
    """The graph of who can talk to whom under ``topology``."""
    try:
        builder = BUILDERS[topology]
    except KeyError:
        raise ValueError(f"unknown partition topology {topology!r}; use one of "
                         f"{', '.join(TOPOLOGIES)}") from None
    return builder(list(names), rng)


def links_to_cut(graph: nx.Graph) -> list[Link]:
    """Every directed link between two nodes the graph does not connect, sorted."""
    return sorted((a, b) for a in graph for b in graph if a != b and not graph.has_edge(a, b))


def one_way_links(graph: nx.Graph, rng: random.Random) -> list[Link]:
    """The directed links of a one-way partition: from every node of one side (a connected
    component of ``graph``, drawn) to every node outside it, sorted; the reverse links
    flow."""
    sides = sorted(sorted(c) for c in nx.connected_components(graph))
    mute = set(rng.choice(sides))
    return sorted((a, b) for a in mute for b in graph if b not in mute)


def view(graph: nx.Graph, node: str) -> frozenset[str]:
    return frozenset([node, *graph.neighbors(node)])
