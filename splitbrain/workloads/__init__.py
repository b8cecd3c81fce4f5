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

#: The workloads ``--keys N`` sizes, and the constructor argument it sets: the register's keys
#: in use at a time, the set's and the counter's keys (Jepsen's key count).
KEYED: dict[str, str] = {Register.name: "keys_in_flight", SetWorkload.name: "keys",
                         Counter.name: "keys"}


def check_keys(name: str, keys: int | None) -> None:
    """BadInput, one sentence, when ``--keys keys`` cannot size the workload ``name``."""
    if keys is None:
        return
    if name not in KEYED:
        raise BadInput(f"--keys sizes the built-in workloads ({', '.join(KEYED)}), not {name}; "
                       f"drop --keys or choose one of them")
    if keys < 1:
        raise BadInput(f"--keys must be at least 1, not {keys}")


def make(name: str, mode: str, *, reads: tuple[str, ...] | None = None,
         keys: int | None = None) -> Workload:
    """The built-in workload called ``name`` for ``mode`` (drawing its reads' consistency from
    ``reads``, and using ``keys`` keys (:data:`KEYED`), when given); BadInput names the known
    ones otherwise, or says why ``keys`` does not fit."""
    if name not in WORKLOADS:
        raise BadInput(f"there is no workload {name!r}; use one of {', '.join(WORKLOADS)}")
    check_keys(name, keys)
    workload = WORKLOADS[name](mode, **({KEYED[name]: keys} if keys is not None else {}))
    if reads:
        workload.reads = reads
    return workload
