"""pyproject.toml declares what the code imports, with floors that have what the code uses."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _declared() -> dict[str, str]:
    """Normalised distribution name -> its version specifier, over dependencies and extras."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        reqs += extra
    out = {}
    for req in reqs:
        name, spec = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*(?:\[[^]]*\])?\s*(.*)", req).groups()
        out[re.sub(r"[-_.]+", "-", name).lower()] = spec
    return out


def _imported_top_level_modules() -> set[str]:
    modules = set()
    for path in (ROOT / "splitbrain").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return {m for m in modules if m not in sys.stdlib_module_names and m != "splitbrain"}


def test_every_third_party_module_the_code_imports_is_declared():
    declared = _declared()
    by_module = importlib.metadata.packages_distributions()
    missing = {}
    for module in sorted(_imported_top_level_modules()):
        dists = {re.sub(r"[-_.]+", "-", d).lower() for d in by_module.get(module, [module])}
        if not dists & declared.keys():
            missing[module] = sorted(dists)
    assert not missing, (f"splitbrain imports {missing} (module: distributions) but "
                         f"pyproject.toml does not declare them; add each to dependencies, or "
                         f"to an optional extra if only one backend needs it")


def test_the_aiohttp_floor_has_the_switch_the_client_uses():
    spec = _declared()["aiohttp"]
    floor = re.search(r">=\s*(\d+)\.(\d+)", spec)
    assert floor and (int(floor[1]), int(floor[2])) >= (3, 11), (
        f"pyproject allows aiohttp {spec!r}, but ClientSession._retry_connection, which "
        f"NodeClient sets so that a PUT is never silently resent, exists only from 3.11; "
        f"raise the floor to >=3.11")
