"""Fault intervals: when each fault the nemesis injected was active, from the history alone.

Which nemesis ops start and stop which kind of fault is the availability checker's rule
(:func:`splitbrain.checkers.availability.fault_kind`); a fault lasts until its stop op completes
(or the end of the run, if never healed). A stop op ends the open faults of its kind whose
targets it names, or all of them when it names none of theirs (``stop-partition`` heals every
cut); the final ``heal`` ends them all. Unlike the checker's counts, the report needs each interval with its targets, to shade
and label it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from splitbrain.checkers.availability import fault_kind, named_nodes
from splitbrain.history import Op
from splitbrain.reports.text import targets

HEAL_ALL = "heal"  # the run's final heal (nemesis.heal_all): ends every fault still open


@dataclass
class Fault:
    """One fault: ``kind`` (partition, kill, pause, clock, ...), the op ``f`` that started it,
    its ``targets`` as a short line, and the interval in nanoseconds (``end`` is the end of the
    run for a fault never healed, with ``healed`` False)."""

    kind: str
    f: str
    targets: str
    start: float
    end: float
    healed: bool
    index: int

    @property
    def label(self) -> str:
        return f"{self.kind} {self.targets}".strip()


def fault_intervals(nemesis_ops: Iterable[Op], end_time: float) -> list[Fault]:
    """The faults of a run, in start order. ``nemesis_ops`` is ``History.nemesis_ops()``;
    ``end_time`` closes faults that were never healed. Ops that failed (the fault was not
    injected) are skipped; nemesis ops that neither start nor stop a fault become zero-length
    faults so they still show on the plots."""
    faults: list[Fault] = []
    open_faults: list[tuple[Fault, frozenset[str]]] = []
    for op in nemesis_ops:
        if op.type == "fail":
            continue
        what = op.output if op.output is not None else op.value
        role, kind = fault_kind(op.f) or ("", op.f)
        if role == "start":
            fault = Fault(kind, op.f, targets(what), op.call, end_time, False, op.index)
            faults.append(fault)
            open_faults.append((fault, named_nodes(what)))
        elif role == "stop" or op.f == HEAL_ALL:
            healed_at = op.ret if op.ret != float("inf") else op.call
            same = [(f, n) for f, n in open_faults if f.kind == kind or op.f == HEAL_ALL]
            named = named_nodes(what)
            closing = same if op.f == HEAL_ALL else [(f, n) for f, n in same if n & named] or same
            for fault, nodes in closing:
                fault.end, fault.healed = healed_at, True
                open_faults.remove((fault, nodes))
        else:
            faults.append(Fault(op.f, op.f, targets(what), op.call, op.call, True, op.index))
    return faults


def fault_kinds(faults: Iterable[Fault]) -> list[str]:
    """The distinct fault kinds, in order of first appearance."""
    return list(dict.fromkeys(f.kind for f in faults))
