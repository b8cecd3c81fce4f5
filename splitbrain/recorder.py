"""Recording a test's own concurrent operations as a history, from threads or asyncio tasks.

Rules:

* ``with recorder.op(client, f, input) as op:`` (or ``async with``) records the invocation
  when the block is entered and the completion when it is left, each with the time read under
  one lock, so the history's event order is the order in which things really happened: an op
  that returned before another was called is recorded so.
* Leaving the block normally records ``ok`` with the output given to ``op.ok(output)`` (None if
  ``ok`` was not called); ``op.fail(error)`` records ``fail`` (certainly did not take effect);
  an exception records ``info`` (outcome unknown: the op may take effect later, or never) and
  propagates.
* A client runs one op at a time; a client whose op ended in ``info`` continues as a fresh
  process named ``"<client>/<n>"`` (Jepsen's rule), so the same client id may be used again.
* Times are nanoseconds since the recorder was made, from a monotonic clock.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Any

from splitbrain.history import Event, History, validate


class RecorderError(RuntimeError):
    """The recorder was used against its rules (one op at a time per client, one outcome per
    op)."""


class RecordedOp:
    """One operation in progress: call :meth:`ok` or :meth:`fail` before the block ends."""

    def __init__(self, recorder: HistoryRecorder, client: Any, f: str, input: Any, key: Any):
        self._recorder = recorder
        self.client, self.f, self.input, self.key = client, f, input, key
        self.output: Any = None
        self.error: str | None = None
        self._failed = False
        self._process: Any = None

    def ok(self, output: Any = None) -> None:
        """The op took effect and returned ``output`` (what a read saw)."""
        self.output = output

    def fail(self, error: str = "failed") -> None:
        """The op certainly did not take effect (``error``: a short reason)."""
        self._failed, self.error = True, error

    def __enter__(self) -> RecordedOp:
        self._process = self._recorder._invoke(self)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is not None:
            self._recorder._complete(self, "info", None, exc_type.__name__)
        elif self._failed:
            self._recorder._complete(self, "fail", None, self.error)
        else:
            self._recorder._complete(self, "ok", self.output, None)

    async def __aenter__(self) -> RecordedOp:
        return self.__enter__()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.__exit__(exc_type, exc, tb)


class HistoryRecorder:
    """Records operations from any number of threads or tasks; :meth:`history` returns what
    was recorded so far as a validated :class:`~splitbrain.history.History`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._start = time.monotonic_ns()
        self._events: list[Event] = []
        self._open: dict[Any, RecordedOp] = {}
        self._crashes: dict[Any, int] = {}

    def op(self, client: int | str, f: str, input: Any = None, *, key: Any = None) -> RecordedOp:
        """A context manager (sync or async) recording one op of ``client``: ``f`` called with
        ``input`` on ``key`` (for keyed models)."""
        return RecordedOp(self, client, f, input, key)

    def _append(self, event: Event) -> None:
        event.time = time.monotonic_ns() - self._start
        event.index = len(self._events)
        self._events.append(event)

    def _invoke(self, op: RecordedOp) -> Any:
        with self._lock:
            running = self._open.get(op.client)
            if running is not None:
                raise RecorderError(f"client {op.client!r} starts {op.f!r} while its "
                                    f"{running.f!r} is still running; a client runs one op at "
                                    f"a time: give each concurrent worker its own client id")
            crashes = self._crashes.get(op.client, 0)
            process = op.client if crashes == 0 else f"{op.client}/{crashes}"
            self._open[op.client] = op
            self._append(Event("invoke", process, op.f, op.input, key=op.key))
            return process

    def _complete(self, op: RecordedOp, type_: str, value: Any, error: str | None) -> None:
        with self._lock:
            del self._open[op.client]
            if type_ == "info":
                self._crashes[op.client] = self._crashes.get(op.client, 0) + 1
            self._append(Event(type_, op._process, op.f, value, key=op.key, error=error))

    def history(self) -> History:
        """The events so far (ops still running count as crashed), validated."""
        with self._lock:
            events = [Event(e.type, e.process, e.f, e.value, e.time, e.index, e.key,
                            error=e.error) for e in self._events]
        return History(validate(events))
