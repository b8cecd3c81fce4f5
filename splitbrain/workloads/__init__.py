"""Workloads: op generators, how each op runs against a node, final reads, and the checkers that
judge them. :func:`make` builds a built-in one by name for a mode
(:func:`splitbrain.plugins.make_workload` also finds plugins)."""

from __future__ import annotations

from splitbrain.errors import BadInput
from splitbrain.workloads.base import Workload
from splitbrain.workloads.counter import Counter
from splitbrain.workloads.register import Register
from splitbrain.workloads.sets import SetWorkload

WORKLOADS: dict[str, type[Workload]] = {w.name: w for w in (Register, SetWorkload, Counter)}


def make(name: str, mode: str, *, reads: tuple[str, ...] | None = None) -> Workload:
    """The built-in workload called ``name`` for ``mode`` (drawing its reads' consistency from
    ``reads`` when given); BadInput names the known ones otherwise."""
    if name not in WORKLOADS:
        raise BadInput(f"there is no workload {name!r}; use one of {', '.join(WORKLOADS)}")
    workload = WORKLOADS[name](mode)
    if reads:
        workload.reads = reads
    return workload
