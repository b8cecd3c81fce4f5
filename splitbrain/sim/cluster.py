"""Five real nodes in one process: the mode's own :class:`~splitbrain.db.store.Store` on the
simulated clock, disk and network, driven as a harness cluster and reached through an
in-process client.

:class:`SimCluster` is a :class:`~splitbrain.harness.interfaces.Nodes` with the
:class:`Killable`, :class:`Pausable`, :class:`ClockControl`, :class:`DiskControl` and
:class:`Introspectable` capabilities, so the harness's run loop and nemesis (targeted faults included) drive it
unchanged:

- kill: the node's disk loses what it had not synced, its network endpoint closes, its tasks
  are cancelled; requests in flight to it end as a lost connection.
- restart: a new incarnation of the store starts on the same disk (only the durable data),
  the same clock and a fresh endpoint.
- pause: the node's endpoint holds its traffic both ways and client requests wait (see
  :mod:`.network`). Its own timers still fire meanwhile, unlike a SIGSTOPped process; what
  they send is held, so from outside it is silent.
- clock: sets the node's clock offset, as ``PUT /admin/clock`` does.
- disk: delays the incarnation's syncs, as ``PUT /admin/disk`` does.

:class:`SimClient` has the methods of :class:`splitbrain.db.client.NodeClient` the workloads
and the run loop use. A request takes ``client_latency`` each way, bypasses HTTP parsing (the
workloads send well-formed requests), is answered with the bodies :mod:`splitbrain.db.api`
renders, round-tripped through JSON, and is classified by the same
:func:`splitbrain.db.client.classify` as the real client's.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from splitbrain.db import api
from splitbrain.db.client import Reply, classify, lost
from splitbrain.db.config import ClusterConfig
from splitbrain.db.env import Env
from splitbrain.db.errors import NodeError
from splitbrain.db.node import build_store
from splitbrain.db.store import Store
from splitbrain.harness.interfaces import NodeUnreachable, RandomSource, seeded
from splitbrain.sim import loop as virtual
from splitbrain.sim.clock import SimClock
from splitbrain.sim.network import SimNetwork
from splitbrain.sim.storage import SimDisk

URL_SCHEME = "sim://"


class _ConnectionLost(Exception):
    """The node serving a request was killed before it answered."""


@dataclass
class _Incarnation:
    """One start of a node: its store, its environment and the requests it is serving."""

    store: Store
    env: Env
    requests: list[asyncio.Future] = field(default_factory=list)
    unpaused: asyncio.Event = field(default_factory=asyncio.Event)


class SimCluster:
    """The nodes of ``config`` on ``net``, with one :class:`SimDisk` and :class:`SimClock` per
    node (the world's hardware); ``seed`` seeds each incarnation's generator, which
    ``source`` gives (named ``node/<name>/<start>``). An async context manager: entering
    starts every node, leaving stops them."""

    def __init__(self, config: ClusterConfig, net: SimNetwork, disks: dict[str, SimDisk],
                 clocks: dict[str, SimClock], seed: int, client_latency: float = 0.0002,
                 source: RandomSource = seeded):
        self.config = config
        self.names = list(config.names)
        self.net = net
        self.disks = disks
        self.clocks = clocks
        self.seed = seed
        self.client_latency = client_latency
        self.source = source
        self.nodes: dict[str, _Incarnation] = {}
        self.starts = dict.fromkeys(self.names, 0)

    async def __aenter__(self) -> "SimCluster":
        loop = asyncio.get_running_loop()
        self.net.bind(loop)
        for clock in self.clocks.values():
            clock.bind(loop)
        for name in self.names:
            await self.restart(name)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        for name in self.names:
            await self.kill(name)

    def client_url(self, name: str) -> str:
        return URL_SCHEME + name

    # -- Killable ---------------------------------------------------------------------------

    async def kill(self, name: str) -> None:
        node = self.nodes.pop(name, None)
        if node is None:
            return
        self.disks[name].crash()
        for fut in node.requests:
            if not fut.done():
                fut.set_exception(_ConnectionLost())
        node.unpaused.set()
        await self.net.endpoint(name).close()
        await node.store.stop()

    async def restart(self, name: str) -> None:
        if name in self.nodes:
            return
        self.starts[name] += 1
        endpoint = self.net.endpoint(name)
        env = Env(name=name, transport=endpoint, clock=self.clocks[name],
                  storage=self.disks[name].mount(),
                  rng=self.source(f"node/{name}/{self.starts[name]}",
                                  f"{self.seed}/{name}/{self.starts[name]}"),
                  config=self.config)
        await endpoint.start()
        store = build_store(env)
        await store.start()
        node = _Incarnation(store, env)
        node.unpaused.set()
        self.nodes[name] = node

    async def is_running(self, name: str) -> bool:
        return name in self.nodes

    # -- Pausable ---------------------------------------------------------------------------

    async def pause(self, name: str) -> None:
        node = self.nodes.get(name)
        if node is not None:
            node.unpaused.clear()
            self.net.endpoint(name).pause()

    async def resume(self, name: str) -> None:
        node = self.nodes.get(name)
        if node is not None:
            self.net.endpoint(name).resume()
            node.unpaused.set()

    # -- ClockControl -----------------------------------------------------------------------

    async def set_clock_offset(self, name: str, seconds: float) -> None:
        self._clock_answers(name)
        self.clocks[name].offset = seconds

    async def set_clock_rate(self, name: str, rate: float) -> None:
        self._clock_answers(name)
        self.clocks[name].set_rate(rate)

    def _clock_answers(self, name: str) -> None:
        """Raise NodeUnreachable, as a real node's admin API would not answer, when node
        ``name`` is killed or paused."""
        node = self.nodes.get(name)
        if node is None or not node.unpaused.is_set():
            state = "killed" if node is None else "paused"
            raise NodeUnreachable(f"node {name} did not answer its clock request: it is {state}")

    # -- DiskControl ------------------------------------------------------------------------

    async def set_sync_delay(self, name: str, seconds: float) -> None:
        node = self.nodes.get(name)
        if node is None or not node.unpaused.is_set():
            raise NodeUnreachable(f"node {name} did not accept the sync delay: it is "
                                  f"{'killed' if node is None else 'paused'}")
        node.env.storage.sync_delay = seconds

    # -- Introspectable --------------------------------------------------------------------

    async def admin_status(self, name: str) -> dict[str, Any]:
        """Node ``name``'s ``GET /admin/status`` body, asked through :class:`SimClient` (so a
        killed or paused node does not answer: :class:`NodeUnreachable`)."""
        reply = await SimClient(self, self.client_url(name), timeout=1.0).status()
        if reply.type != "ok":
            raise NodeUnreachable(f"node {name} did not answer GET /admin/status ({reply.error})")
        return reply.value

    # -- serving the in-process client --------------------------------------------------------

    async def serve(self, name: str, call: Callable[[Store], Awaitable[dict[str, Any]]]
                    ) -> tuple[int, Any]:
        """Run ``call`` on node ``name``'s store as its HTTP layer would: (status, JSON body).
        Raises ConnectionRefusedError when the node is not running and :class:`_ConnectionLost`
        when it is killed before answering. The node keeps working on a request whose client
        gave up, as a real server does."""
        node = self.nodes.get(name)
        if node is None:
            raise ConnectionRefusedError(name)
        await node.unpaused.wait()
        if self.nodes.get(name) is not node:
            raise _ConnectionLost()
        loop = asyncio.get_running_loop()
        answer: asyncio.Future = loop.create_future()
        node.requests.append(answer)
        task = loop.create_task(_answer(node.store, call))
        task.add_done_callback(lambda t: _settle(answer, t))
        try:
            status, body = await answer
        finally:
            node.requests.remove(answer)
        await node.unpaused.wait()  # the answer of a node paused meanwhile waits too
        if self.nodes.get(name) is not node:
            raise _ConnectionLost()
        return status, _json(body)


async def _answer(store: Store, call: Callable[[Store], Awaitable[dict[str, Any]]]
                  ) -> tuple[int, dict[str, Any]]:
    try:
        return 200, await call(store)
    except NodeError as e:
        return e.status, e.to_dict()
    except asyncio.CancelledError:
        raise
    except Exception:  # what the HTTP layer's middleware answers for a bug in the node
        e = api.internal_error()
        return e.status, e.to_dict()


def _settle(answer: asyncio.Future, task: asyncio.Task) -> None:
    if answer.done():
        return
    if task.cancelled():
        answer.set_exception(_ConnectionLost())
    else:
        answer.set_result(task.result())


class SimClient:
    """The in-process client of one simulated node (see the module docstring); built by the
    run loop's client factory from the node's ``sim://NAME`` URL."""

    def __init__(self, cluster: SimCluster, url: str, timeout: float = 1.0):
        self.cluster = cluster
        self.name = url.removeprefix(URL_SCHEME)
        self.timeout = timeout

    async def get(self, key: str, consistency: str | None = None, r: int | None = None) -> Reply:
        return await self._call(lambda s: _read(s, key, consistency, r), read=True,
                                value=lambda body: body.get("values"))

    async def put(self, key: str, value: Any, context: str | None = None, w: int | None = None,
                  condition: dict | None = None) -> Reply:
        value = _json(value)

        async def call(s: Store) -> dict[str, Any]:
            return api.put_answer(await s.put(key, value, context=context, w=w,
                                              condition=_json(condition)))

        return await self._call(call, read=False, value=lambda _: value)

    async def add(self, key: str, delta: int | float) -> Reply:
        async def call(s: Store) -> dict[str, Any]:
            return api.written_answer(await s.add(key, delta))

        return await self._call(call, read=False, value=lambda _: delta)

    async def add_to_set(self, key: str, element: Any) -> Reply:
        element = _json(element)

        async def call(s: Store) -> dict[str, Any]:
            return api.written_answer(await s.add_to_set(key, element))

        return await self._call(call, read=False, value=lambda _: element)

    async def health(self) -> Reply:
        async def call(s: Store) -> dict[str, Any]:
            return {"ok": True, "name": self.name, "mode": self.cluster.config.mode}

        return await self._call(call, read=True, value=lambda body: body)

    async def status(self, *, timeout: float | None = None) -> Reply:
        """The node's ``GET /admin/status`` body (the run loop's catch-up wait reads it)."""
        clock = self.cluster.clocks[self.name]

        async def call(s: Store) -> dict[str, Any]:
            return {"name": self.name, "mode": self.cluster.config.mode,
                    "clock_offset": clock.offset, "clock_rate": clock.rate, **s.status()}

        return await self._call(call, read=True, value=lambda body: body)

    async def repair(self, *, timeout: float | None = None) -> Reply:
        """``POST /admin/anti-entropy`` (the run loop's catch-up wait asks for it)."""

        async def call(s: Store) -> dict[str, Any]:
            return api.repair_answer(s, self.cluster.config.mode)

        return await self._call(call, read=True, value=lambda body: body)

    async def close(self) -> None:
        pass

    async def _call(self, call: Callable[[Store], Awaitable[dict[str, Any]]], *, read: bool,
                    value: Callable[[dict], Any]) -> Reply:
        try:
            async with asyncio.timeout(self.timeout):
                await virtual.sleep(self.cluster.client_latency)
                status, body = await self.cluster.serve(self.name, call)
                await virtual.sleep(self.cluster.client_latency)
        except ConnectionRefusedError:
            return lost("connection-refused", read=read)
        except TimeoutError:
            return lost("client-timeout", read=read)
        except _ConnectionLost:
            return lost("connection-lost", read=read)
        return classify(status, body, read=read, value=value)


async def _read(store: Store, key: str, consistency: str | None, r: int | None
                ) -> dict[str, Any]:
    return api.read_answer(key, await store.get(key, consistency=consistency, r=r))


#: Values JSON gives back as they went in (a float prints as its repr, which reads back
#: exactly; NaN and the infinities as Python's JSON extensions, which read back too).
_AS_IS = frozenset({str, int, float, bool, type(None)})


def _json(value: Any) -> Any:
    """``value`` as it reads back from JSON (what the node decodes from a request, what the
    client decodes from an answer): a copy in which tuples are lists. The common shapes (JSON's
    own types, dicts with string keys) are copied directly, which is several times faster than
    a round trip; anything else (other keys, other types, which JSON converts or refuses) takes
    the round trip."""
    kind = type(value)
    if kind in _AS_IS:
        return value
    if kind is list or kind is tuple:
        return [_json(v) for v in value]
    if kind is dict and all(type(k) is str for k in value):
        return {k: _json(v) for k, v in value.items()}
    return json.loads(json.dumps(value))
