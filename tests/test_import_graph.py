"""The package's import graph (every import, including those inside functions): no module-level
cycle, no package-level cycle, and nemesis/ and workloads/ reach the harness only through its
interfaces and the pure generators (DESIGN.md's arrow cli -> harness -> {nemesis, workloads})."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parent.parent / "splitbrain"

#: Harness modules that import nothing from the harness, so nemesis/ and workloads/ may use them
#: without depending on the harness package; at package level each counts as a node of its own.
LEAF_MODULES = {"splitbrain.harness.interfaces", "splitbrain.harness.generators"}


def _modules() -> dict[str, Path]:
    mods = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        mods[".".join(parts)] = path
    return mods


def _module_graph() -> tuple[nx.DiGraph, dict[str, Path]]:
    mods = _modules()
    # compiled extensions (built from a .c file) are leaves: importing one is not importing
    # the package around it
    extensions = {".".join(p.relative_to(ROOT.parent).with_suffix("").parts)
                  for p in ROOT.rglob("*.c")}
    graph = nx.DiGraph()
    for name, path in mods.items():
        graph.add_node(name)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                subs = [f"{node.module}.{a.name}" for a in node.names]
                targets = [s if s in mods or s in extensions else node.module for s in subs]
            else:
                continue
            for target in targets:
                if target in extensions:
                    continue
                while target and target not in mods:
                    target = target.rpartition(".")[0]
                if target.startswith("splitbrain") and target != name:
                    graph.add_edge(name, target)
    return graph, mods


def _package(name: str, mods: dict[str, Path]) -> str:
    parent = name.rpartition(".")[0]
    if name in LEAF_MODULES or mods[name].name == "__init__.py" or parent == "splitbrain":
        return name
    return parent


def _cycles(graph: nx.DiGraph) -> list[list[str]]:
    return [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]


def test_no_module_level_import_cycle():
    graph, _ = _module_graph()
    cycles = _cycles(graph)
    assert not cycles, (f"these modules import each other (counting imports inside functions): "
                        f"{cycles}; move what both need into a leaf module they both import")


def test_no_package_level_import_cycle():
    graph, mods = _module_graph()
    packages = nx.DiGraph()
    for a, b in graph.edges:
        pa, pb = _package(a, mods), _package(b, mods)
        if pa != pb:
            packages.add_edge(pa, pb)
    cycles = _cycles(packages)
    assert not cycles, (f"these packages depend on each other: {cycles}; the lower one must "
                        f"import only the harness interfaces, not harness internals")


def test_nemesis_and_workloads_see_only_the_harness_interfaces():
    graph, _ = _module_graph()
    wrong = sorted((a, b) for a, b in graph.edges
                   if a.startswith(("splitbrain.nemesis", "splitbrain.workloads"))
                   and b.startswith("splitbrain.harness") and b not in LEAF_MODULES)
    assert not wrong, (f"{wrong}: nemesis/ and workloads/ may import only "
                       f"{sorted(LEAF_MODULES)} from the harness")


def test_leaf_modules_import_nothing_from_the_harness():
    graph, _ = _module_graph()
    for leaf in LEAF_MODULES:
        deps = sorted(b for b in graph.successors(leaf) if b.startswith("splitbrain.harness"))
        assert not deps, f"{leaf} must stay a leaf of the harness but imports {deps}"
