"""Which checkers judge which workload in which mode: the one place that wires workloads to
``splitbrain.checkers``. The eventual checkers come from the verdict policy
(:func:`splitbrain.checkers.policy.checkers_for`); where the policy says a run judges
linearizability (the dynamodb register workload) this adds the linearizability checker on strong
reads, writes and cas (per key, cas-register model)."""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from splitbrain.checkers import linearizable, policy
from splitbrain.history import History
from splitbrain.workloads.base import Checker

#: Seconds the linearizability search may spend before its verdict is unknown.
LINEARIZABLE_TIME_LIMIT = 60.0


def _linearizable_cas_register(history: History, consistency: str | None = "strong"):
    return linearizable.check(history, "cas-register", initial=None, nil_reads="strict",
                              time_limit=LINEARIZABLE_TIME_LIMIT, consistency=consistency)


def with_expectations(checkers: dict[str, Checker], workload: str, mode: str,
                      expect: Iterable[str]) -> dict[str, Checker]:
    """``checkers`` and what ``expect`` adds: ``--expect linearizable`` on a register of single
    values (lww, dynamodb) adds the linearizability checker over every read, eventual ones
    included, beside the one over the strong reads a mode promises."""
    if policy.LINEARIZABLE in expect and policy.judges_every_read(mode, workload):
        return {**checkers, policy.LINEARIZABLE_EVERY_READ: _linearizable_every_read}
    return checkers


def _linearizable_every_read(history: History):
    result = _linearizable_cas_register(history, consistency=None)
    result.checker = policy.LINEARIZABLE_EVERY_READ
    return result


def for_workload(workload: str, mode: str, params: Mapping[str, Any] | None = None
                 ) -> dict[str, Checker]:
    """The checkers, by name, for ``workload`` run against a ``mode`` cluster whose config is
    ``params`` (n, r, w, replication: the staleness checker's PBS prediction uses them)."""
    checkers = dict(policy.checkers_for(mode, workload, params))
    if policy.judges_linearizability(mode, workload):
        checkers[policy.LINEARIZABLE] = _linearizable_cas_register
    return checkers
