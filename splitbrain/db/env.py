"""The node's environment: the only way node logic reaches the world (DESIGN.md, "The node").

Node logic never touches sockets, the system clock, global randomness, threads or files
directly. It is handed an :class:`Env` holding a :class:`Transport`, a :class:`Clock`, a
:class:`Storage` and a seeded ``random.Random``, and uses asyncio for timers and tasks. The real
runtime (``splitbrain.db.runtime``) supplies TCP, the OS clock and fsynced files; this module
supplies the contracts and an in-memory implementation of each, so that several nodes can run in
one process, with a network whose links can be cut, and whose messages can be dropped,
duplicated and reordered, for tests and (later) a deterministic simulator.
"""

from __future__ import annotations

import asyncio
import copy
import random
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Iterator, Protocol

Message = dict[str, Any]
Handler = Callable[[str, Message], Awaitable[None] | None]


class Clock(Protocol):
    """Wall time (seconds since the epoch, plus a settable offset: the nemesis skews clocks
    through it) and monotonic time (seconds, never affected by the offset; it runs at
    ``rate`` seconds per real second, 1 unless the clock-rate nemesis set another)."""

    offset: float
    rate: float

    def wall(self) -> float: ...

    def monotonic(self) -> float: ...

    def set_rate(self, rate: float) -> None: ...


class Transport(Protocol):
    """Unreliable, unordered-across-restarts delivery of msgpack-able dicts between named nodes.

    ``send`` never blocks and never raises for an unreachable peer: the message is simply lost,
    as a partition would lose it. Messages from one sender to one receiver arrive in order while
    the link is up. Each node sends only over links it opened itself, so a directed cut of the
    link a->b stops a's messages to b and nothing else. A message is never changed after it
    is sent: a transport may encode it once for several peers, or hand the same object to
    several receivers.
    """

    name: str

    def send(self, dest: str, msg: Message) -> None: ...

    def set_handler(self, handler: Handler) -> None: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


class Storage(Protocol):
    """Durable tables of key -> msgpack-able value.

    ``put`` and ``delete`` take effect at once for readers of this storage, but are durable only
    once a later ``await sync()`` has returned: a crash loses every change not yet synced, and no
    synced change. A node acknowledges nothing before the sync that covers it. Concurrent
    ``sync`` calls may share one fsync (group commit). ``sync_delay`` (seconds, 0 normally;
    ``PUT /admin/disk``) makes every sync start that much later, as a stalled disk would.
    """

    sync_delay: float

    def get(self, table: str, key: Any, default: Any = None) -> Any: ...

    def put(self, table: str, key: Any, value: Any) -> None: ...

    def delete(self, table: str, key: Any) -> None: ...

    def scan(self, table: str) -> Iterator[tuple[Any, Any]]: ...

    async def sync(self) -> None: ...

    def close(self) -> None: ...


@dataclass
class Env:
    """Everything a node may touch. ``config`` is the parsed cluster config."""

    name: str
    transport: Transport
    clock: Clock
    storage: Storage
    rng: random.Random
    config: Any = None


# ---------------------------------------------------------------------------------------------
# In-memory implementations


class MemoryClock:
    """A clock driven by the event loop's time: monotonic is ``loop.time()``, wall is a fixed
    epoch plus loop time plus the offset."""

    rate = 1.0  # runs with the event loop; ``set_rate`` is refused

    def __init__(self, epoch: float = 1_700_000_000.0, offset: float = 0.0):
        self.epoch = epoch
        self.offset = offset

    def set_rate(self, rate: float) -> None:
        raise ValueError("an in-memory clock runs at the event loop's rate")

    def monotonic(self) -> float:
        return asyncio.get_running_loop().time()

    def wall(self) -> float:
        return self.epoch + self.monotonic() + self.offset


class MemoryStorage:
    """Tables in a dict. ``crash()`` throws away every change since the last ``sync``, which is
    how tests check that a node acknowledges only what is durable."""

    def __init__(self) -> None:
        self._live: dict[str, dict[Any, Any]] = {}
        self._durable: dict[str, dict[Any, Any]] = {}
        self.syncs = 0
        self.sync_delay = 0.0

    def get(self, table: str, key: Any, default: Any = None) -> Any:
        return self._live.get(table, {}).get(key, default)

    def put(self, table: str, key: Any, value: Any) -> None:
        self._live.setdefault(table, {})[key] = value

    def delete(self, table: str, key: Any) -> None:
        self._live.get(table, {}).pop(key, None)

    def scan(self, table: str) -> Iterator[tuple[Any, Any]]:
        return iter(list(self._live.get(table, {}).items()))

    async def sync(self) -> None:
        if self.sync_delay > 0:
            await asyncio.sleep(self.sync_delay)
        self._durable = copy.deepcopy(self._live)
        self.syncs += 1

    def crash(self) -> None:
        self._live = copy.deepcopy(self._durable)

    def close(self) -> None:
        pass


@dataclass
class LinkFaults:
    """Per-network fault knobs, each a probability applied per message."""

    drop: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    max_delay: float = 0.0


@dataclass
class MemoryNetwork:
    """A hub connecting :class:`MemoryTransport` endpoints in one event loop.

    Links are directed: ``cut(a, b)`` stops a's messages to b. Faults are drawn from ``rng`` so a
    seed reproduces a schedule. Delivery is asynchronous (scheduled on the loop), never inline.
    """

    rng: random.Random = field(default_factory=lambda: random.Random(0))
    faults: LinkFaults = field(default_factory=LinkFaults)
    endpoints: dict[str, "MemoryTransport"] = field(default_factory=dict)
    cuts: set[tuple[str, str]] = field(default_factory=set)
    delivered: int = 0
    dropped: int = 0

    def transport(self, name: str) -> "MemoryTransport":
        t = MemoryTransport(name, self)
        self.endpoints[name] = t
        return t

    def cut(self, a: str, b: str, *, both: bool = True) -> None:
        self.cuts.add((a, b))
        if both:
            self.cuts.add((b, a))

    def isolate(self, name: str) -> None:
        for other in self.endpoints:
            if other != name:
                self.cut(name, other)

    def heal(self) -> None:
        self.cuts.clear()

    def _route(self, src: str, dest: str, msg: Message) -> None:
        target = self.endpoints.get(dest)
        if target is None or not target.up or (src, dest) in self.cuts:
            self.dropped += 1
            return
        f = self.faults
        if f.drop and self.rng.random() < f.drop:
            self.dropped += 1
            return
        copies = 2 if f.duplicate and self.rng.random() < f.duplicate else 1
        loop = asyncio.get_running_loop()
        for _ in range(copies):
            delay = 0.0
            if f.reorder and self.rng.random() < f.reorder:
                delay = self.rng.random() * max(f.max_delay, 0.01)
            elif f.max_delay:
                delay = self.rng.random() * f.max_delay
            # Each delivery gets its own copy, as bytes on a wire would.
            loop.call_later(delay, target._deliver, src, copy.deepcopy(msg))


class MemoryTransport:
    """One node's endpoint on a :class:`MemoryNetwork`. ``up`` is False while the node is
    stopped: messages to it are lost."""

    def __init__(self, name: str, network: MemoryNetwork):
        self.name = name
        self.network = network
        self.up = False
        self._handler: Handler | None = None
        self._tasks: set[asyncio.Task] = set()

    def set_handler(self, handler: Handler) -> None:
        self._handler = handler

    async def start(self) -> None:
        self.up = True

    async def close(self) -> None:
        self.up = False
        for t in list(self._tasks):
            t.cancel()

    def send(self, dest: str, msg: Message) -> None:
        if self.up:
            self.network._route(self.name, dest, msg)

    def _deliver(self, src: str, msg: Message) -> None:
        if not self.up or self._handler is None:
            return
        self.network.delivered += 1
        result = self._handler(src, msg)
        if asyncio.iscoroutine(result):
            task = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)


def memory_env(name: str, network: MemoryNetwork, *, seed: int = 0, config: Any = None,
               storage: MemoryStorage | None = None, clock: MemoryClock | None = None) -> Env:
    """An in-memory :class:`Env` for node ``name`` on ``network``. Pass an existing ``storage``
    to restart a node with the data it had synced."""
    return Env(name=name, transport=network.transport(name), clock=clock or MemoryClock(),
               storage=storage or MemoryStorage(), rng=random.Random(seed), config=config)
