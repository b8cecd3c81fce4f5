"""The library's entry points beyond the checkers themselves: checking with a user's model,
asserting linearizability in a test, and writing a report (re-exported by
:mod:`splitbrain`; see docs/api.md).

Rules: a model that is not a built-in is always checked through
:func:`~splitbrain.checkers.linearizable.guard.guard`, so its mistakes are one sentence; an
assertion passes only on a decided, linearizable verdict.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from splitbrain.checkers import linearizable
from splitbrain.checkers.linearizable.guard import guard
from splitbrain.checkers.linearizable.models import Model
from splitbrain.checkers.result import Result
from splitbrain.errors import BadInput
from splitbrain.history import History, Op, write_jsonl


class NotLinearizable(AssertionError):
    """:func:`assert_linearizable` failed: the message is the checker's explanation. The
    verdict is in :attr:`result`."""

    def __init__(self, message: str, result: Result):
        super().__init__(message)
        self.result = result


def check(history: History | list[Op], model: str | Model = "cas-register", *,
          initial: Any = None, nil_reads: str = "strict", time_limit: float | None = None,
          memory_limit: int | None = None, consistency: str | None = None) -> Result:
    """Is ``history`` linearizable with respect to ``model``? The options are those of
    :func:`splitbrain.checkers.linearizable.check`; a model of your own is guarded, so that a
    ``step`` that raises or returns an unhashable state is a
    :class:`~splitbrain.checkers.linearizable.guard.ModelError` naming the model and the op."""
    return linearizable.check(history, guard(model) if isinstance(model, Model) else model,
                              initial=initial, nil_reads=nil_reads, time_limit=time_limit,
                              memory_limit=memory_limit, consistency=consistency)


def assert_linearizable(history: History | list[Op], model: str | Model = "cas-register",
                        **options: Any) -> Result:
    """:func:`check` ``history``; return the Result when it is linearizable, else raise
    :class:`NotLinearizable` whose message is the verdict, each illegal op's explanation and
    its failing window (an unknown verdict fails too, with its reason). pytest shows the
    failure at the caller's line, not inside splitbrain."""
    __tracebackhide__ = True  # pytest: the failing line is the caller's
    from splitbrain.checkfile import summary  # it reads files of every format: only on failure

    result = check(history, model, **options)
    if result.valid is True:
        return result
    raise NotLinearizable("\n".join(summary("history", result)), result)


def report(history: History, result: Result, path: str | os.PathLike) -> Path:
    """Write the HTML report of ``result`` (from any checker, or composed) for ``history`` to
    ``path``, and the history beside it as ``<path stem>.history.jsonl``, which the report
    links to. Returns ``path``."""
    from splitbrain.reports import write_history_report  # Jinja2 and friends: only when asked

    out = Path(path)
    source = out.with_name(out.stem + ".history.jsonl")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_jsonl(history.events, source)
    except OSError as e:
        raise BadInput(f"cannot write {source} ({e.strerror}); choose a writable place for the "
                       f"report") from None
    return write_history_report(history, result, out, source=source)
