"""Turning a failed search into an anomaly a person can follow.

The anomaly names the op that cannot be placed (the one whose return the search reached at its
deepest point), the longest linearizable prefix found, the smallest window of ops around the
failure (the unplaced op, the ops still pending there, and the placed ops concurrent with
them), and for each pending op the states it could have seen and why it fits none of them.
"""

from __future__ import annotations

from typing import Any, Hashable

from splitbrain.checkers.linearizable.deciders import Decision
from splitbrain.checkers.linearizable.models import Model, either
from splitbrain.checkers.linearizable.search import Outcome, ret_position
from splitbrain.history import Op

# The prefix in an anomaly keeps its last ops only: enough to follow, small enough to render.
PREFIX_SHOWN = 50
# Bound on the states enumerated to say what the unplaced op could have seen.
_STATES_EXPLORED = 300


def anomaly(key: Hashable, ops: list[Op], model: Model, outcome: Outcome) -> dict[str, Any]:
    """The ``nonlinearizable`` anomaly for one key (see the package docstring for its shape)."""
    prefix = outcome.prefix
    stuck = outcome.stuck if outcome.stuck is not None else 0
    last_state = prefix[-1][1] if prefix else model.init()
    placed = {i for i, _ in prefix}
    stuck_ret = ops[stuck].completion_index
    pending = [i for i, op in enumerate(ops) if i not in placed and op.index < stuck_ret]
    earliest = min(ops[i].index for i in pending)
    concurrent = [i for i, _ in prefix if ret_position(ops[i]) > earliest]
    window = sorted(set(pending) | set(concurrent), key=lambda i: ops[i].index)

    # What the unplaced op could have seen: from the state before the first placed op that
    # overlaps the window, any mix of the window's other ops.
    first = next((k for k, (i, _) in enumerate(prefix) if i in set(concurrent)), len(prefix))
    start = prefix[first - 1][1] if first > 0 else model.init()
    others = [ops[i] for i, _ in prefix[first:]] + [ops[i] for i in pending if i != stuck]
    seen = _reachable(start, others, model)
    unplaced_reads = sorted((op for i, op in enumerate(ops) if i not in placed
                             and op.f in model.reads and model.constrains(op)),
                            key=lambda op: op.completion_index)
    candidates = [_candidate(ops[i], seen, model, unplaced_reads) for i in pending]
    why = candidates[pending.index(stuck)]["why"]
    explanation = (f"{model.describe_op(ops[stuck])} (op {ops[stuck].index}) cannot be linearized: "
                   f"{why}; {len(prefix)} earlier ops linearize, leaving "
                   f"{model.noun} {model.describe_state(last_state)}.")
    return {
        "type": "nonlinearizable",
        "key": key,
        "ops": [ops[i].index for i in window],
        "op": ops[stuck].index,
        "explanation": explanation,
        "linearization": [{"op": ops[i].index, "state": model.describe_state(s)}
                          for i, s in prefix[-PREFIX_SHOWN:]],
        "prefix_length": len(prefix),
        "last_state": model.describe_state(last_state),
        "candidates": candidates,
    }


def decision_anomaly(key: Hashable, ops: list[Op], model: Model,
                     decision: Decision) -> dict[str, Any]:
    """The anomaly a polynomial decider found, when the search could not explain it within its
    budget: the culprit ops and the decider's reason, without a linearization."""
    culprits = [ops[i] for i in decision.culprits]
    return {
        "type": "nonlinearizable",
        "key": key,
        "ops": sorted(op.index for op in culprits),
        "op": culprits[0].index,
        "explanation": f"{model.describe_op(culprits[0])} (op {culprits[0].index}) cannot be "
                       f"linearized: {decision.why}.",
        "linearization": [],
        "prefix_length": 0,
        "last_state": "unknown",
        "candidates": [],
    }


def _blocked_read(op: Op, legal: list[Hashable], model: Model, later_reads: list[Op]) -> str:
    """What goes wrong after ``op``: for a model with ``may_reach``, the first later read
    that none of the states after ``op`` can grow into."""
    if model.may_reach is not None and op.f not in model.reads:
        after = [model.step(s, op) for s in legal]
        for r in later_reads:
            if r.index > op.index and not any(model.may_reach(s, r) for s in after):
                reset = f" without a {' or '.join(model.resets)}" if model.resets else ""
                return (f"then {model.noun} can no longer become what {model.describe_op(r)} "
                        f"(op {r.index}) read{reset}")
    return "no order of the remaining ops then fits"


def _reachable(start: Hashable, others: list[Op], model: Model) -> list[Hashable]:
    """States reachable from ``start`` by applying some of ``others`` (ignoring their mutual
    real-time order, which only widens the set): what the unplaced op could have seen."""
    seen = [start]
    frontier = [(start, 0)]
    known = {(start, 0)}
    while frontier and len(known) < _STATES_EXPLORED:
        state, used = frontier.pop()
        for j, op in enumerate(others):
            if used >> j & 1:
                continue
            new = model.step(state, op)
            if new is not None and (new, used | 1 << j) not in known:
                known.add((new, used | 1 << j))
                frontier.append((new, used | 1 << j))
                if new not in seen:
                    seen.append(new)
    return seen


def _candidate(op: Op, states: list[Hashable], model: Model,
               later_reads: list[Op]) -> dict[str, Any]:
    legal = [s for s in states if model.step(s, op) is not None]
    if legal:
        why = (f"{model.describe_op(op)} fits when {model.noun} is "
               f"{either(legal, model.describe_state)}, but "
               f"{_blocked_read(op, legal, model, later_reads)}")
    else:
        why = model.why(op, states)
    return {"op": op.index, "state": either(states, model.describe_state),
            "why": why}

