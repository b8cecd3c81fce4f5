"""Which checkers judge which workload in which mode: the one place that wires workloads to
``splitbrain.checkers`` (DESIGN.md's verdict policy decides what each mode promises)."""

from __future__ import annotations

from splitbrain.checkers import linearizable
from splitbrain.workloads.base import Checker

#: Seconds the linearizability search may spend before its verdict is unknown.
LINEARIZABLE_TIME_LIMIT = 60.0


def _linearizable_cas_register(history):
    return linearizable.check(history, "cas-register", initial=None, nil_reads="strict",
                              time_limit=LINEARIZABLE_TIME_LIMIT, consistency="strong")


def for_workload(workload: str, mode: str) -> dict[str, Checker]:
    """The checkers, by name, for ``workload`` run against a ``mode`` cluster."""
    checkers: dict[str, Checker] = {}
    if workload == "register" and mode == "dynamodb":
        checkers["linearizable"] = _linearizable_cas_register
    return checkers
