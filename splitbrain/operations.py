"""Histories built from operations, as a Porcupine user records them: who called what, with what
input, what came back, when it was called and when it returned (or that it crashed).

Rules:

* An :class:`Operation`'s ``ret`` is ``None`` when its outcome is unknown (the client crashed or
  timed out: it may take effect at any later time, or never); ``failed=True`` says it certainly
  did not take effect. Times are numbers on one monotonic clock (nanoseconds, as the rest of
  splitbrain, read the times it shows).
* Event order comes from the times. At equal times calls sort before returns, so ops that touch
  at an instant count as concurrent (the lenient reading, Porcupine's), except a client's call
  at the very instant its own previous op returned, which follows that return.
* A client runs one op at a time. A client whose op crashed is replaced by a fresh process
  (Jepsen's rule), named ``"<client>/<n>"``, so a crashed client id may be used again.
* :func:`order_by_time` does the same for :class:`~splitbrain.history.Op` records built by hand
  (whose ``index`` and ``completion_index`` are not event positions): the linearizability
  checker calls it on such lists.

This module imports only :mod:`splitbrain.history`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Iterable

from splitbrain.history import Event, History, HistoryError, Op, validate

_CALL, _RETURN, _SEQUENTIAL_CALL = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Operation:
    """One client operation: ``client`` called ``f`` with ``input`` at ``call`` and got
    ``output`` back at ``ret`` (``None``: crashed, outcome unknown). ``failed`` marks an op that
    certainly did not take effect; ``key`` names the object for keyed models."""

    client: int | str
    f: str
    input: Any
    output: Any
    call: float
    ret: float | None
    key: Any = None
    failed: bool = False


def _as_operation(op: Operation | tuple, n: int) -> Operation:
    if isinstance(op, Operation):
        return op
    if isinstance(op, tuple) and 6 <= len(op) <= 8:
        return Operation(*op)
    raise HistoryError(f"operation {n} is {op!r}; give an Operation or a tuple (client, f, "
                       f"input, output, call, ret[, key[, failed]])")


def _check_times(op: Operation, n: int) -> None:
    for name in ("call", "ret"):
        t = getattr(op, name)
        if t is None and name == "ret":
            continue
        if not isinstance(t, (int, float)) or isinstance(t, bool) or not math.isfinite(t):
            raise HistoryError(f"operation {n} ({op.f} by client {op.client}) has {name} time "
                               f"{t!r}; times are finite numbers on one clock")
    if op.failed and op.ret is None:
        raise HistoryError(f"operation {n} ({op.f} by client {op.client}) failed but has no return "
                           f"time; give the time its failure was known (ret None means crashed)")
    if op.ret is not None and op.ret < op.call:
        raise HistoryError(f"operation {n} ({op.f} by client {op.client}) returns at {op.ret}, "
                           f"before its call at {op.call}; swap them or fix the clock")


def history_from_operations(operations: Iterable[Operation | tuple]) -> History:
    """A validated :class:`History` of the operations, in the event order their times give
    (see the module's rules). Raises :class:`~splitbrain.history.HistoryError` naming the
    operation (its position in ``operations``) when a time is missing or a client overlaps
    itself."""
    ops = [_as_operation(op, n) for n, op in enumerate(operations)]
    for n, op in enumerate(ops):
        _check_times(op, n)
    by_client: dict[Any, list[int]] = {}
    for n in sorted(range(len(ops)), key=lambda n: ops[n].call):
        by_client.setdefault(ops[n].client, []).append(n)
    process: dict[int, int | str] = {}
    entries: list[tuple[float, int, int, int]] = []  # (time, kind, tie-break, op position)
    for client, mine in by_client.items():
        crashes = 0
        for prev, n in zip([None, *mine], mine):
            kind = _CALL
            if prev is not None:
                before = ops[prev]
                if before.ret is None:
                    crashes += 1
                elif before.ret > ops[n].call:
                    raise HistoryError(
                        f"operation {n} ({ops[n].f} at {ops[n].call}) starts before client "
                        f"{client}'s {before.f} (operation {prev}) returned at {before.ret}; a "
                        f"client runs one op at a time: give concurrent ops distinct clients")
                elif before.ret == ops[n].call:
                    kind = _SEQUENTIAL_CALL
            process[n] = client if crashes == 0 else f"{client}/{crashes}"
            entries.append((ops[n].call, kind, n, n))
            ret = ops[n].ret
            if ret is not None:
                entries.append((ret, _RETURN, n, n))
    entries.sort()
    end = max((t for t, *_ in entries), default=0)
    events: list[Event] = []
    for time, kind, _, n in entries:
        op = ops[n]
        if kind == _RETURN:
            events.append(Event("fail" if op.failed else "ok", process[n], op.f, op.output,
                                time, key=op.key))
        else:
            events.append(Event("invoke", process[n], op.f, op.input, time, key=op.key))
    # A crashed op's completion comes last: its return is at infinity whatever its time.
    events += [Event("info", process[n], op.f, None, end, key=op.key, error="crashed")
               for n, op in enumerate(ops) if op.ret is None]
    return History(validate(events))


def history_from_events(events: Iterable[Event | dict[str, Any]]) -> History:
    """A validated :class:`History` of events (:class:`~splitbrain.history.Event` or dicts with
    the fields of ``history.jsonl``); indices are assigned where missing. Raises
    :class:`~splitbrain.history.HistoryError` naming the event that breaks a rule."""
    evs = []
    for i, e in enumerate(events):
        if isinstance(e, dict):
            missing = [k for k in ("type", "process", "f") if k not in e]
            if missing:
                raise HistoryError(f"event {i} lacks the field(s) {', '.join(missing)}")
            e = Event.from_dict(e)
        elif not isinstance(e, Event):
            raise HistoryError(f"event {i} is {e!r}; give an Event or a dict")
        evs.append(e)
    return History(validate(evs))


def needs_ordering(ops: list[Op]) -> bool:
    """Whether ``ops`` were built by hand: some op that completed has no completion index, so
    their event order must come from their times."""
    return any(op.type != "info" and op.completion_index < 0 for op in ops)


def order_by_time(ops: list[Op]) -> list[Op]:
    """Copies of ``ops`` renumbered by the event order of their ``call`` and ``ret`` times
    (calls before returns at equal times): ``index`` becomes the call's position and
    ``completion_index`` the return's, ordered by call. ``info`` ops never return."""
    entries = sorted([(op.call, _CALL, i) for i, op in enumerate(ops)]
                     + [(op.ret, _RETURN, i) for i, op in enumerate(ops) if op.type != "info"])
    position = {(kind, i): p for p, (_, kind, i) in enumerate(entries)}
    renumbered = [dataclasses.replace(op, index=position[(_CALL, i)],
                                      completion_index=position.get((_RETURN, i), -1))
                  for i, op in enumerate(ops)]
    return sorted(renumbered, key=lambda op: op.index)
