"""Workloads: op generators, how each op runs against a node, final reads, and the checkers that
judge them. :func:`make` builds one by name for a mode."""

from __future__ import annotations

from splitbrain.workloads.base import Workload
from splitbrain.workloads.counter import Counter
from splitbrain.workloads.register import Register
from splitbrain.workloads.sets import SetWorkload

WORKLOADS: dict[str, type[Workload]] = {w.name: w for w in (Register, SetWorkload, Counter)}


def make(name: str, mode: str) -> Workload:
    """The workload called ``name`` for ``mode``: a built-in, else a plugin (``pkg.mod:Class``
    or an installed entry point, see :mod:`splitbrain.plugins`); BadInput names the known ones
    otherwise."""
    if name not in WORKLOADS:
        from splitbrain.plugins import workload_class  # plugins import this package

        return workload_class(name)(mode)
    return WORKLOADS[name](mode)
