"""An asyncio event loop on virtual time.

Rules of this module:

1. ``time()`` is virtual: it starts at 0 and moves only when the loop has nothing ready to
   run, straight to the deadline of the earliest timer. Nothing waits for real time.
2. There is no I/O: the loop never polls a selector. Code run on this loop must reach the
   world through simulated doubles only (sockets, subprocesses and threads are refused by
   asyncio's base loop, which does not implement them).
3. Order is deterministic: ready callbacks run first in, first out, and timers with the same
   deadline run in the order they were scheduled (asyncio's own heap breaks such ties in an
   order that is repeatable but not first-in first-out, which would reorder a link's
   messages sent at one instant).
4. A loop with nothing ready and no timer can never make progress: that is a
   :class:`Deadlock`, raised rather than hanging. A run that passes ``limit`` seconds of
   virtual time raises :class:`TimeLimit`.

The ready queue, the timer heap and the iteration are written twice: as the methods below and,
for speed (about a fifth of a seed's time went to them), in C (``_loop.c``, an optional
extension like ``_wire``: without a C compiler the methods run). The compiled core keeps
these rules exactly, so a seed's history does not depend on whether it was built (a test
compares the two).
"""

from __future__ import annotations

import asyncio
import asyncio.base_events
import contextvars
import heapq
import itertools
from typing import Any, Awaitable, Callable, TypeVar

try:
    from splitbrain.sim import _loop  # the compiled core (optional)
except ImportError:  # pragma: no cover - built by setup.py wherever a C compiler exists
    _loop = None

T = TypeVar("T")


class Deadlock(RuntimeError):
    """The simulated world has nothing left to run and the main coroutine has not finished."""


class TimeLimit(RuntimeError):
    """The simulated run went past its virtual-time limit."""


class _Handle(asyncio.Handle):
    """A callback made ready by ``call_soon``: asyncio's handle, built without the per-handle
    debug-mode checks (this loop never runs in debug mode)."""

    __slots__ = ()

    def __init__(self, callback: Callable[..., Any], args: tuple, loop: "VirtualLoop",
                 context: contextvars.Context | None):
        _fill(self, callback, args, loop, context)


def _fill(handle: asyncio.Handle, callback: Callable[..., Any], args: tuple,
          loop: "VirtualLoop", context: contextvars.Context | None) -> None:
    """Set the fields asyncio's ``Handle.__init__`` sets, as it does outside debug mode."""
    handle._context = context if context is not None else contextvars.copy_context()
    handle._loop = loop
    handle._callback = callback
    handle._args = args
    handle._cancelled = False
    handle._repr = None
    handle._source_traceback = None


class _Timer(asyncio.TimerHandle):
    """A timer: asyncio's timer handle, built like :class:`_Handle`. The loop orders its timers
    by ``(when, seq)`` tuples (rule 3), so a timer itself is never compared."""

    __slots__ = ()

    def __init__(self, when: float, callback: Callable[..., Any], args: tuple,
                 loop: "VirtualLoop", context: contextvars.Context | None):
        _fill(self, callback, args, loop, context)
        self._when = when
        self._scheduled = True


class _Call:
    """A timer of :meth:`VirtualLoop.call_at_plain`: no handle to cancel it and no context of
    its own; it runs its callback directly, reporting an exception to the loop's exception
    handler as asyncio's handles do."""

    __slots__ = ("_callback", "_args", "_loop", "_scheduled")
    _cancelled = False

    def __init__(self, callback: Callable[..., Any], args: tuple, loop: "VirtualLoop"):
        self._callback = callback
        self._args = args
        self._loop = loop

    def _run(self) -> None:
        try:
            self._callback(*self._args)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._loop.call_exception_handler({"message": f"Exception in callback "
                                                          f"{self._callback!r}",
                                               "exception": exc})


class VirtualLoop(asyncio.base_events.BaseEventLoop):
    """An event loop whose :meth:`time` is virtual (see the module's rules).

    It keeps asyncio's scheduling rules (one iteration runs the callbacks ready when it began,
    after the timers due by then) but replaces the base loop's iteration and timer queue,
    which were most of a simulated run's overhead: its heap holds ``(when, seq, timer)``
    tuples, compared in C, instead of timer objects compared by a Python method, and an
    iteration with nothing ready jumps the clock to the earliest timer without a selector.
    """

    def __init__(self, limit: float = float("inf")):
        super().__init__()
        self._now = 0.0
        self._limit = limit
        self._scheduled: list[tuple[float, int, _Timer]] = []  # type: ignore[assignment]
        self._seq = itertools.count()
        self._core = None
        if _loop is not None:
            # The compiled core's methods, as instance attributes, take the place of the
            # Python methods of the same names (and asyncio's calls reach them directly).
            self._core = core = _loop.Core(self.call_exception_handler, limit, Deadlock,
                                           TimeLimit, vars(self))
            for name in ("call_soon", "call_later", "call_at", "call_at_plain", "time",
                         "timers"):
                setattr(self, name, getattr(core, name))
            self._run_once = core.run_once  # type: ignore[method-assign]

    def close(self) -> None:
        super().close()
        if self._core is not None:
            self._core.close()  # drops pending callbacks and its references to this loop

    def time(self) -> float:
        return self._now

    def timers(self) -> int:
        """Timers and plain calls in the heap, cancelled ones included."""
        return len(self._scheduled)

    # call_soon, call_later and call_at are each a few lines of their own (no delegation,
    # asyncio's _check_closed inlined): the simulation makes ~10,000 such calls a seed.

    def call_soon(self, callback: Callable[..., Any], *args: Any,
                  context: contextvars.Context | None = None) -> asyncio.Handle:
        if self._closed:
            raise RuntimeError("Event loop is closed")
        handle = _Handle(callback, args, self, context)
        self._ready.append(handle)
        return handle

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any,
                   context: contextvars.Context | None = None) -> asyncio.TimerHandle:
        if self._closed:
            raise RuntimeError("Event loop is closed")
        when = self._now + delay
        timer = _Timer(when, callback, args, self, context)
        heapq.heappush(self._scheduled, (when, next(self._seq), timer))
        return timer

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any,
                context: contextvars.Context | None = None) -> asyncio.TimerHandle:
        if self._closed:
            raise RuntimeError("Event loop is closed")
        timer = _Timer(when, callback, args, self, context)
        heapq.heappush(self._scheduled, (when, next(self._seq), timer))
        return timer

    def call_at_plain(self, when: float, callback: Callable[..., Any], *args: Any) -> None:
        """Run ``callback(*args)`` at ``when`` like :meth:`call_at` (same order, rule 3), but
        without a handle to cancel it and in no context of its own: it runs in the context the
        loop was started in, so a task it creates starts from that one. Cheaper than
        :meth:`call_at`, for the simulated network's deliveries (~2,000 a seed)."""
        if self._closed:
            raise RuntimeError("Event loop is closed")
        heapq.heappush(self._scheduled, (when, next(self._seq), _Call(callback, args, self)))

    def _run_once(self) -> None:
        """One iteration: with nothing ready, move the clock to the earliest live timer (rule
        4 when there is none); make every timer due by now ready; run what is ready."""
        heap = self._scheduled
        ready = self._ready
        if self._timer_cancelled_count > _MIN_CANCELLED and \
                self._timer_cancelled_count * 2 > len(heap):
            # Drop cancelled timers once they are half the heap (as asyncio does).
            live = []
            for entry in heap:
                if entry[2]._cancelled:
                    entry[2]._scheduled = False
                else:
                    live.append(entry)
            heapq.heapify(live)
            self._scheduled = heap = live
            self._timer_cancelled_count = 0
        if not ready and not self._stopping:
            while heap and heap[0][2]._cancelled:
                heapq.heappop(heap)[2]._scheduled = False
                self._timer_cancelled_count -= 1
            if not heap:
                raise Deadlock(f"the simulation is stuck at t={self._now:.6f} s: no callback "
                               f"is ready and no timer is pending")
            when = heap[0][0]
            if when > self._now:  # the clock never moves backward
                if when > self._limit:
                    raise TimeLimit(f"the simulation passed its limit of {self._limit:g} s of "
                                    f"virtual time")
                self._now = when
        due = self._now + _RESOLUTION
        while heap and heap[0][0] < due:
            timer = heapq.heappop(heap)[2]
            timer._scheduled = False
            ready.append(timer)
        for _ in range(len(ready)):
            handle = ready.popleft()
            if not handle._cancelled:
                handle._run()

    def _process_events(self, event_list: list) -> None:
        pass

    def _write_to_self(self) -> None:
        pass

    def _make_self_pipe(self) -> None:
        pass


#: Timers due less than this past now run in the same iteration (asyncio's clock resolution).
_RESOLUTION = 1e-9

#: Cancelled timers tolerated in the heap before it is swept (asyncio's threshold).
_MIN_CANCELLED = 100


def run(main: Awaitable[T], *, limit: float = float("inf")) -> T:
    """Run ``main`` to completion on a fresh :class:`VirtualLoop` and close it; the virtual
    clock may not pass ``limit`` seconds.

    As :func:`asyncio.run` does, it then cancels the tasks still pending and finishes async
    generators, but it installs no SIGINT handler: asyncio's Runner, checking its handler
    after the run, builds the repr of the finished main task and so of its result (a seed's
    whole history), a few milliseconds per seed.
    """
    lp = VirtualLoop(limit)
    try:
        return lp.run_until_complete(_wrap(main))
    finally:
        try:
            _cancel_all_tasks(lp)
            lp.run_until_complete(lp.shutdown_asyncgens())
        finally:
            lp.close()


def _cancel_all_tasks(lp: VirtualLoop) -> None:
    """Cancel every pending task of ``lp`` and wait for them (asyncio.run's shutdown)."""
    pending = list(asyncio.all_tasks(lp))
    if not pending:
        return
    for task in pending:
        task.cancel()
    lp.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    for task in pending:
        if not task.cancelled() and task.exception() is not None:
            lp.call_exception_handler({"message": "unhandled exception during the shutdown "
                                                  "of a simulated run",
                                       "exception": task.exception(), "task": task})


async def sleep(delay: float) -> None:
    """``asyncio.sleep(delay)`` for ``delay > 0`` on a :class:`VirtualLoop`, woken by a plain
    call (:meth:`VirtualLoop.call_at_plain`) instead of a cancellable timer: the same wake-up
    time and order, for the simulated disk's syncs and the in-process client's latencies
    (~1,900 a seed)."""
    lp = asyncio.get_running_loop()
    fut = lp.create_future()
    lp.call_at_plain(lp.time() + delay, _wake, fut)  # type: ignore[attr-defined]
    await fut


def _wake(fut: asyncio.Future) -> None:
    if not fut.done():  # not when its sleeper was cancelled
        fut.set_result(None)


async def _wrap(main: Awaitable[Any]) -> Any:
    return await main
