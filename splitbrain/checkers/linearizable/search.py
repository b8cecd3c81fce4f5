"""Wing-Gong-Lowe linearizability search over one independent sub-history.

The algorithm is Lowe's just-in-time linearization ("Testing for linearizability", 2017), as in
Knossos's ``wgl`` and Porcupine: the history's call and return entries sit in a doubly linked list
in real-time (history) order; the search repeatedly takes a call entry that precedes the first
return entry still in the list (a *minimal* op: everything that must precede it is already
linearized), applies it to the model, and lifts its entries out of the list. Reaching a return
entry means its op could not be placed before it returned: backtrack. A memo of
``(linearized set, state)`` pairs (the set as an int bitset) prunes configurations already
explored: a configuration reached again leads to the same futures, and each one in the memo was
either fully explored without success or is on the current path (impossible: the set grows
strictly along a path).

Crashed (``info``) ops have no return entry: they may be linearized any time after their call,
or never. Reaching the end of the list means every op still in it is crashed, and a history that
leaves them out is a valid linearization.

Pruning rule (twins). Two ops ``d`` and ``i`` are *twins* when the model gives them the same
behaviour (``Model.behaviour``: equal step functions), ``call(d) < call(i)`` and
``ret(d) <= ret(i)``. If ``i`` is minimal and its twin ``d`` is not yet linearized, the search
need not try ``i`` next: trying ``d`` suffices.
*Proof.* ``d`` is minimal too: everything that must precede ``d`` (ops returning before
``call(d) < call(i)``) must precede ``i``, so it is linearized. Take a valid completion of the
current prefix that starts with ``i``. If it contains ``d`` at a later position, swap the two:
the model sees the same sequence of step functions, so the same states. Real-time order still
holds: ``d`` moves earlier and is minimal; ``i`` moves to ``d``'s old place, and every op ``x``
placed between them was placed before ``d``, so ``call(x) <= ret(d) <= ret(i)``: ``x`` need not
follow ``i``. If it does not contain ``d``, then ``d`` is crashed (an ok op is in every
completion) and replacing ``i`` by ``d`` gives a valid completion (``i`` left out is allowed
only if ``i`` is crashed too; if ``i`` is ok then ``ret(d) <= ret(i) < inf`` makes ``d`` ok, a
contradiction). Either way a completion starting with ``d`` exists. Only twins concurrent with
``i`` matter (``ret(d) >= call(i)``): a twin that returned before ``i`` was called is already
linearized whenever ``i`` is minimal.

Pruning rule (lookahead, models with ``may_reach`` and ``resets``). Placing a state-changing
op, giving state s, is refused when some pending (not yet linearized) ok read r can see its
output neither by growing s nor by growing the value of a pending reset op x called before r
returned: ``may_reach(s, r)`` is false and ``may_reach(value(x), r)`` is false for each such x.
*Proof.* In any completion, consider the last reset op placed before r, if any: it is pending
now and must precede r, so ``call(x) < ret(r)``; the state it leaves is its value (a reset
sets the state regardless of it). Between it (or now, if none) and r come only non-reset ops,
which by the contract of ``may_reach`` only grow the state; so r's output must be reachable
from value(x) or from s (s itself, when the op just placed is a reset). If neither holds, no
completion exists. The search walks a watch list, a second linked list holding only the pending
reads' return entries and the pending resets' call entries in history order, so the reset calls
met before r's return entry are exactly the pending resets called before r returned; it stops
after ``LOOKAHEAD`` entries: checking fewer reads prunes less, never wrongly.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Hashable

from splitbrain.checkers.linearizable.models import Model, freeze
from splitbrain.history import Op

try:  # the same walk in C (see _wgl.c); this module's reachable_reads is the reference
    from splitbrain.checkers.linearizable._wgl import reachable_reads as _compiled_walk
except ImportError:
    _compiled_walk = None

_CHECK_EVERY = 2048
LOOKAHEAD = 256
# Estimated bytes per memo entry beyond the bitset: set slot, tuple, state reference.
_ENTRY_OVERHEAD = 120


class Budget:
    """A time and memory budget shared by every sub-history of one check."""

    def __init__(self, time_limit: float | None, memory_limit: int | None):
        self.deadline = None if time_limit is None else time.monotonic() + time_limit
        self.memory_limit = memory_limit

    def exceeded(self, memo_entries: int, nbits: int, state_bytes: int = 0) -> str | None:
        """The reason the budget is spent, or None. Memory is estimated per memo entry: the
        bitset, the entry's overhead, and ``state_bytes`` (a sampled state's size)."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            return "the time limit ran out"
        if self.memory_limit is not None and memo_entries * \
                (_ENTRY_OVERHEAD + nbits // 8 + state_bytes) > self.memory_limit:
            return "the memory limit ran out"
        return None


@dataclass
class Outcome:
    """What the search found. ``valid`` is True, False or None (budget spent: ``reason``).

    ``prefix`` is the longest linearization found: (op position, state after it) pairs;
    ``stuck`` the position of the op whose return was reached at that depth (the op that cannot
    be placed), or None; ``explored`` counts memo entries."""

    valid: bool | None
    prefix: list[tuple[int, Hashable]] = field(default_factory=list)
    stuck: int | None = None
    explored: int = 0
    reason: str | None = None


def twins_of(ops: list[Op], model: Model) -> list[tuple[int, ...]]:
    """For each op position, its concurrent earlier twins (see the module docstring)."""
    groups: dict[Hashable, list[int]] = {}
    for i, op in enumerate(ops):
        groups.setdefault(model.behaviour(op), []).append(i)
    twins: list[tuple[int, ...]] = [()] * len(ops)
    for members in groups.values():
        active: list[int] = []
        for i in members:  # members are in call order
            call, ret = ops[i].index, ret_position(ops[i])
            active = [d for d in active if ret_position(ops[d]) >= call]
            twins[i] = tuple(d for d in active if ret_position(ops[d]) <= ret)
            active.append(i)
    return twins


def entry_order(ops: list[Op]) -> list[int]:
    """The list's entries in history order: 2*i is op i's call, 2*i+1 its return (ok ops
    only; a crashed op never returns)."""
    entries = sorted([(op.index, 2 * i) for i, op in enumerate(ops)]
                     + [(op.completion_index, 2 * i + 1) for i, op in enumerate(ops)
                        if op.type == "ok"])
    return [e for _, e in entries]


def search(ops: list[Op], model: Model, budget: Budget) -> Outcome:
    """Decide whether ``ops`` (one sub-history, in call order, no ``fail`` ops) linearize."""
    n = len(ops)
    # Entry ids: 2*i is op i's call, 2*i+1 its return; HEAD = 2n, END = -1.
    head = 2 * n
    # prv[-1] (END's slot) aliases prv[head], which is never read: writes to it are harmless,
    # so unlinking needs no END test.
    nxt = [-1] * (2 * n + 1)
    prv = [-1] * (2 * n + 1)
    last = head
    for e in entry_order(ops):
        nxt[last] = e
        prv[e] = last
        last = e
    has_ret = [op.type == "ok" for op in ops]
    done = bytearray(n)
    twins = twins_of(ops, model)
    steps = [model.compile(op) for op in ops]
    may_reach = model.may_reach
    walk = _compiled_walk or reachable_reads
    is_read = [op.f in model.reads for op in ops]
    # The lookahead's watch list: a second linked list (same entry ids) holding only the return
    # entries of pending reads (role 1) and the call entries of pending resets (role 2).
    role = bytes(n)
    origins: list[tuple[int, ...]] = [()] * n
    snxt = [-1] * (2 * n + 1)
    sprv = [-1] * (2 * n + 1)
    if may_reach is not None:
        role = bytes(1 if is_read[j] and has_ret[j] else 2 if op.f in model.resets else 0
                     for j, op in enumerate(ops))
        resets = [x for x in range(n) if role[x] == 2]
        # For each read, the resets whose value it could grow from (state-independent).
        origins = [tuple(x for x in resets if may_reach(freeze(ops[x].value), op))
                   if role[j] == 1 else () for j, op in enumerate(ops)]
        last = head
        for e in entry_order(ops):
            if role[e >> 1] == 2 - (e & 1):
                snxt[last] = e
                sprv[e] = last
                last = e

    state = model.init()
    linearized = 0
    memo: set[tuple[int, Hashable]] = set()
    stack: list[tuple[int, Hashable]] = []
    best: list[tuple[int, Hashable]] = []
    stuck: int | None = None
    countdown = _CHECK_EVERY
    e = nxt[head]
    while e != -1:
        if e & 1 == 0:
            i = e >> 1
            countdown -= 1
            if countdown == 0:
                countdown = _CHECK_EVERY
                reason = budget.exceeded(len(memo), n, sys.getsizeof(state))
                if reason is not None:
                    return Outcome(None, _prefix(stack, state, best), stuck, len(memo), reason)
            for d in twins[i]:
                if not done[d]:
                    break
            else:
                d = -1
            if d >= 0:
                e = nxt[e]
                continue
            new_state = steps[i](state)
            if new_state is not None:
                new_lin = linearized | (1 << i)
                key = (new_lin, new_state)
                if key not in memo:
                    memo.add(key)  # explored from here on, or (lookahead) dead
                    if may_reach is not None and not is_read[i] and not walk(
                            new_state, i, snxt[head], snxt, ops, origins, may_reach, LOOKAHEAD):
                        e = nxt[e]
                        continue
                    stack.append((i, state))
                    state, linearized = new_state, new_lin
                    done[i] = 1
                    # lift op i: its call entry e and its return entry
                    p, q = prv[e], nxt[e]
                    nxt[p], prv[q] = q, p
                    if has_ret[i]:
                        r = e | 1
                        p, q = prv[r], nxt[r]
                        nxt[p], prv[q] = q, p
                    if role[i]:
                        w = e + 2 - role[i]  # a read's return entry, a reset's call entry
                        p, q = sprv[w], snxt[w]
                        snxt[p], sprv[q] = q, p
                    e = nxt[head]
                    continue
            e = nxt[e]
        else:
            if stuck is None or len(stack) > len(best):
                best = _prefix(stack, state, [])
                stuck = e >> 1
            if not stack:
                return Outcome(False, best, stuck, len(memo))
            i, state = stack.pop()
            linearized ^= 1 << i
            done[i] = 0
            # unlift op i, in the reverse order of lifting
            c = 2 * i
            if role[i]:
                w = c + 2 - role[i]
                p, q = sprv[w], snxt[w]
                snxt[p], sprv[q] = w, w
            if has_ret[i]:
                r = c | 1
                p, q = prv[r], nxt[r]
                nxt[p], prv[q] = r, r
            p, q = prv[c], nxt[c]
            nxt[p], prv[q] = c, c
            e = nxt[c]
    return Outcome(True, _prefix(stack, state, []), None, len(memo))


def reachable_reads(state: Hashable, placed: int, e: int, nxt: list[int], ops: list[Op],
                    origins: list[tuple[int, ...]], may_reach, limit: int) -> bool:
    """The lookahead rule: can every pending read still see its output, from ``state`` or
    from a pending reset called before it returned? Walks the watch list from ``e``."""
    called: set[int] = set()
    for _ in range(limit):
        if e == -1:
            return True
        j = e >> 1
        if j != placed:
            if e & 1 == 0:
                called.add(j)
            elif called.isdisjoint(origins[j]) and not may_reach(state, ops[j]):
                return False
        e = nxt[e]
    return True


def _prefix(stack: list[tuple[int, Hashable]], state: Hashable,
            fallback: list[tuple[int, Hashable]]) -> list[tuple[int, Hashable]]:
    """The stack as (op, state after it) pairs; ``fallback`` if it is shorter."""
    if len(stack) < len(fallback):
        return fallback
    after = [s for _, s in stack[1:]] + [state]
    return [(i, s) for (i, _), s in zip(stack, after)]


def ret_position(op: Op) -> float:
    """Where op returns in the history; infinity for a crashed op."""
    return op.completion_index if op.type == "ok" else float("inf")
