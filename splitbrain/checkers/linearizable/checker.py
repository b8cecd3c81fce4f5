"""``check``: the linearizability checker's entry point.

Steps, per independent sub-history (``Model.partition``, by default one per key): leave out
``fail`` ops (they certainly did not happen) and ops the model calls irrelevant, apply the proven
pruning rules (:mod:`.prune`), decide in polynomial time when a decider applies
(:mod:`.deciders`), otherwise rewrite into an equivalent history (:mod:`.reduce`) and run the
search (:mod:`.search`, or its compiled twin :mod:`.compiled` for register models); explain
each illegal key (:mod:`.explain`), replaying the found order on the original ops. Every key is decided, not just the first bad one, under one shared time and
memory budget; keys left when the budget runs out are ``unknown``.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from splitbrain.checkers.linearizable import deciders
from splitbrain.checkers.linearizable.compiled import search_any
from splitbrain.checkers.linearizable.explain import anomaly, decision_anomaly
from splitbrain.checkers.linearizable.models import Model, json_text, make_model, thaw
from splitbrain.checkers.linearizable.prune import prune
from splitbrain.checkers.linearizable.reduce import reduce
from splitbrain.checkers.linearizable.search import Budget, Outcome
from splitbrain.checkers.result import Result, merge_validity
from splitbrain.errors import BadInput
from splitbrain.history import NEMESIS, History, Op
from splitbrain.operations import needs_ordering, order_by_time

DEFAULT_MEMORY_LIMIT = 1 << 30
EXPLAIN_TIME_LIMIT, EXPLAIN_MEMORY_LIMIT = 1.0, 1 << 28
# Past this many ops a decider's own explanation stands alone (the search's memo of
# linearized-op bitsets would cost more than the explanation is worth).
EXPLAIN_MAX_OPS = 10_000
CONSISTENCY = (None, "strong")


def check(history: History | list[Op], model: str | Model = "cas-register", *,
          initial: Any = None, nil_reads: str = "strict", time_limit: float | None = None,
          memory_limit: int | None = None, consistency: str | None = None) -> Result:
    """Is ``history`` linearizable with respect to ``model``?

    ``history`` is a History or a list of Ops; Ops built by hand (ok ops without a
    ``completion_index``) are put in event order by their ``call`` and ``ret`` times and
    renumbered (see :func:`splitbrain.operations.order_by_time`).

    ``model`` is a built-in name (see :data:`~.models.MODELS`) or a :class:`~.models.Model`;
    ``initial`` and ``nil_reads`` configure a built-in. ``time_limit`` (seconds) and
    ``memory_limit`` (bytes of search memo, default 1 GiB) bound the whole check; past either the
    verdict is ``"unknown"`` with what was decided so far. ``consistency="strong"`` keeps only
    ops whose ``consistency`` is "strong" or absent (eventual reads are not judged).

    Keys are compared as JSON values (:func:`~.models.freeze`: true is not 1, "1" is not 1;
    1 and 1.0 are one number). Returns a :class:`Result` with ``checker="linearizable"``, one
    ``nonlinearizable`` anomaly per illegal key (its ``key`` the JSON value), and ``details =
    {"model": name, "keys": {json_text(key): {"valid", "ops", "seconds", "reason",
    "decider"}}}``: every key of a client op has an entry, also one whose ops all failed (valid,
    with 0 ops judged); the overall verdict merges every entry. Raises BadInput when the model
    cannot read an op.
    """
    if consistency not in CONSISTENCY:
        raise BadInput(f"consistency must be 'strong' or None, not {consistency!r}")
    m = make_model(model, initial=initial, nil_reads=nil_reads)
    ops = history.ops() if isinstance(history, History) else list(history)
    if needs_ordering(ops):  # Ops built by hand: their times give the event order
        ops = order_by_time(ops)
    client = [op for op in ops if op.process != NEMESIS]
    judged = [op for op in client
              if op.type != "fail" and (consistency is None or op.consistency in CONSISTENCY)]
    for op in judged:
        m.check_op(op)
    budget = Budget(time_limit, DEFAULT_MEMORY_LIMIT if memory_limit is None else memory_limit)

    started = time.monotonic()
    # Partitioned before leaving ops out, so a key whose every op failed still gets a verdict.
    judged_ids = {id(op) for op in judged}
    parts = {key: [op for op in part if id(op) in judged_ids]
             for key, part in m.partition(client).items()}
    keys: dict[str, dict[str, Any]] = {}
    anomalies: list[dict[str, Any]] = []
    explored = 0
    for key in sorted(parts, key=lambda k: (len(parts[k]), json_text(k))):
        verdict, found = _decide(thaw(key), parts[key], m, budget)
        explored += verdict.pop("explored")
        keys[json_text(key)] = verdict
        if found is not None:
            anomalies.append(found)
    valid = merge_validity(*(v["valid"] for v in keys.values()))
    reasons = sorted({v["reason"] for v in keys.values() if v["valid"] == "unknown"})
    return Result(
        valid=valid,
        anomalies=anomalies,
        stats={"ops": len(judged), "keys": len(keys),
               "illegal-keys": sum(v["valid"] is False for v in keys.values()),
               "unknown-keys": sum(v["valid"] == "unknown" for v in keys.values()),
               "explored": explored, "seconds": round(time.monotonic() - started, 6)},
        reason="; ".join(reasons) if reasons else None,
        details={"model": m.name, "keys": keys},
        checker="linearizable",
    )


def _decide(key: Any, ops: list[Op], model: Model, budget: Budget
            ) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The verdict for one sub-history and, when illegal, its anomaly."""
    started = time.monotonic()
    part = prune([op for op in ops if model.relevant(op)], model)
    verdict: dict[str, Any] = {"ops": len(ops), "reason": None, "decider": "search",
                               "explored": 0}

    def done(valid: bool | str, found: dict[str, Any] | None = None):
        verdict.update(valid=valid, seconds=round(time.monotonic() - started, 6))
        return verdict, found

    spent = budget.exceeded(0, 0)
    if spent is not None:
        verdict["reason"] = spent + " before this key was checked"
        return done("unknown")
    decision = deciders.decide(part, model)
    if decision is not None:
        verdict["decider"] = decision.name
        if decision.valid:
            return done(True)
        if len(part) > EXPLAIN_MAX_OPS:
            return done(False, decision_anomaly(key, part, model, decision))
        # The search adds a linearization and candidates to the explanation, within a budget
        # of its own: the verdict is known.
        budget = Budget(EXPLAIN_TIME_LIMIT, EXPLAIN_MEMORY_LIMIT)
    search_ops, search_model, rewrite = reduce(part, model)
    if rewrite is not None and decision is None:
        verdict["decider"] = f"search ({rewrite})"
    outcome = replay(search_any(search_ops, search_model, budget), part, model)
    verdict["explored"] = outcome.explored
    if outcome.valid is False:
        return done(False, anomaly(key, part, model, outcome))
    if decision is not None:
        return done(False, decision_anomaly(key, part, model, decision))
    verdict["reason"] = outcome.reason
    return done("unknown" if outcome.valid is None else True)


def replay(outcome: Outcome, ops: list[Op], model: Model) -> Outcome:
    """``outcome`` with its prefix's states recomputed on the original ``ops`` (the search may
    have run on an equivalent rewritten history, whose states mean nothing to a reader)."""
    state = model.init()
    prefix = []
    for i, _ in outcome.prefix:
        state = model.step(state, ops[i])
        prefix.append((i, state))
    return dataclasses.replace(outcome, prefix=prefix)
