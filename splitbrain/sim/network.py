"""The simulated network: every directed link between nodes, with its own latency, loss,
duplication and reordering, which the nemesis cuts, heals, delays and makes lossy through the
harness's :class:`~splitbrain.harness.interfaces.Net` contract.

Rules of this module:

1. A message is copied when sent, as a msgpack round trip on the real wire would give it back
   (:func:`wire_copy`): the receiver never shares a mutable object with the sender, nor with
   the receiver of a duplicate.
2. The fate of a message is drawn once, when it is sent, from this network's seeded
   generator: lost (cut link), delivered once or twice (duplication), after the link's
   latency plus jitter plus any nemesis delay plus its retransmissions. Draws happen in send
   order, so a seed fixes every fate. A draw of 0 is the fault-free fate (delivered once, in
   order, on its first transmission, without jitter): a fault happens when a draw is above
   one minus its probability, so that the shrinker's zeroed draws remove faults
   (:mod:`splitbrain.sim.draws`).
6. A lossy link loses packets, not messages, as the node's TCP links do: each loss costs the
   message a retransmission timeout (:data:`RTO`, doubling with each loss in a row), and only
   :data:`MAX_RETRIES` losses in a row lose it (TCP gives up on the connection). A live
   connection never drops one message and delivers the next.
3. A link delivers in send order (as the node's TCP links do) unless the world enables
   reordering for it, in which case a message may overtake earlier ones.
4. A message reaches only the incarnation of the node it was sent to: a restart in between
   loses it, as the TCP connection it travelled on would have broken. A stopped node
   receives nothing.
5. A paused node's endpoint holds what arrives for it and what it sends, and lets both go,
   in order, when it resumes (a frozen process keeps its sockets).
7. A reset of a link (:meth:`SimNetwork.reset`) loses every message on it that was sent and
   has not yet arrived (what a paused endpoint already holds has arrived), as the TCP
   connection it travelled on would have broken; what is sent afterwards travels on a new
   one. A cut already loses what is sent while it lasts, so a cut in reject style
   (:meth:`SimNetwork.reject`) is a reset of its links and a cut.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import Any, Iterable

import msgpack

from splitbrain.db.env import Handler, Message
from splitbrain.harness.interfaces import Link

try:
    from splitbrain.sim import _wire
except ImportError:  # built without a C compiler (setup.py): every copy takes the round trip
    _wire = None  # type: ignore[assignment]

#: One encoder for every message (msgpack.packb builds a new one per call). It resets itself
#: after each message, also after refusing one.
_encode = msgpack.Packer(use_bin_type=True).pack
#: TCP's retransmission timeout on a link whose round trip is well under it (Linux's minimum).
RTO = 0.2
#: Losses of a message in a row after which TCP gives up (Linux's ``tcp_retries2``).
MAX_RETRIES = 15


@dataclass
class LinkParams:
    """One directed link's behaviour: ``latency`` + uniform ``jitter`` seconds per message;
    ``loss``, ``duplicate`` and ``reorder`` probabilities per message; ``delay`` extra seconds
    set by the nemesis."""

    latency: float = 0.0005
    jitter: float = 0.0005
    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    delay: float = 0.0


def wire_copy(msg: Message) -> Message:
    """``msg`` as a msgpack round trip gives it back (tuples become lists; what msgpack cannot
    encode raises its error). The compiled copy (``_wire.c``) copies the common messages about
    four times faster than the round trip; it refuses what it does not handle, which then
    takes the round trip."""
    if _wire is not None:
        try:
            return _wire.copy(msg)
        except ValueError:
            pass
    return msgpack.unpackb(_encode(msg), raw=False, strict_map_key=False)


class SimNetwork:
    """The network between the nodes ``names``; each node's :meth:`endpoint` is its
    :class:`splitbrain.db.env.Transport`. ``params`` gives each directed link's behaviour
    (links not in it behave as ``LinkParams()``)."""

    kind = "sim"

    def __init__(self, names: list[str], rng: random.Random,
                 params: dict[Link, LinkParams] | None = None):
        self.names = list(names)
        self.rng = rng
        self.params = {(a, b): LinkParams() for a in names for b in names if a != b}
        self.params.update(params or {})
        self.baseline = {link: LinkParams(**vars(p)) for link, p in self.params.items()}
        self.cuts: frozenset[Link] = frozenset()
        self.endpoints = {n: SimEndpoint(n, self) for n in names}
        self._last: dict[Link, float] = {}
        self._epoch: dict[Link, int] = {}  # resets so far per link (rule 7)
        self.sent = self.delivered = self.lost = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Schedule deliveries on ``loop`` from now on instead of the running loop: the same
        while ``loop`` runs, and cheaper (asyncio.get_running_loop makes a system call)."""
        self._loop = loop

    def endpoint(self, name: str) -> "SimEndpoint":
        return self.endpoints[name]

    # -- the nemesis's Net ----------------------------------------------------------------

    async def cut(self, links: Iterable[Link]) -> None:
        """Drop every message on exactly these links from now on (replacing the last cut)."""
        self.cuts = frozenset(self._checked(links))

    async def heal(self) -> None:
        """No cut, and every link back to the world's baseline (no nemesis delay or loss)."""
        self.cuts = frozenset()
        self.params = {link: LinkParams(**vars(p)) for link, p in self.baseline.items()}

    async def reset(self, links: Iterable[Link]) -> None:
        """Lose every message in flight on these links (rule 7)."""
        for link in self._checked(links):
            self._epoch[link] = self._epoch.get(link, 0) + 1
            self._last.pop(link, None)

    async def reject(self, links: Iterable[Link]) -> None:
        """Reset these links and cut exactly them (rule 7)."""
        chosen = self._checked(links)
        await self.reset(chosen)
        await self.cut(chosen)

    async def delay(self, links: Iterable[Link], seconds: float) -> None:
        for link in self._checked(links):
            self.params[link].delay = seconds

    async def loss(self, links: Iterable[Link], percent: int) -> None:
        for link in self._checked(links):
            self.params[link].loss = max(self.baseline[link].loss, percent / 100)

    async def close(self) -> None:
        await self.heal()

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind}

    def _checked(self, links: Iterable[Link]) -> list[Link]:
        out = [(a, b) for a, b in links]
        for link in out:
            if link not in self.params:
                raise ValueError(f"no link {link[0]}->{link[1]} between two distinct nodes of "
                                 f"{self.names}")
        return out

    # -- delivery -------------------------------------------------------------------------

    def _send(self, src: str, dest: str, msg: Message) -> None:
        self.sent += 1
        link = (src, dest)
        p = self.params.get(link)
        target = self.endpoints.get(dest)
        if p is None or target is None or link in self.cuts:
            self.lost += 1
            return
        retransmitted = self._retransmission(p.loss) if p.loss else 0.0
        if retransmitted is None:
            self.lost += 1
            return
        sent = wire_copy(msg)
        rng = self.rng
        copies = 2 if p.duplicate and rng.random() > 1.0 - p.duplicate else 1
        loop = self._loop or asyncio.get_running_loop()
        epoch = self._epoch.get(link, 0)
        base = loop.time() + p.latency + p.delay + retransmitted
        for i in range(copies):
            at = base + rng.random() * p.jitter
            if not (p.reorder and rng.random() > 1.0 - p.reorder):
                last = self._last.get(link, 0.0)
                if at < last:
                    at = last
                self._last[link] = at
            loop.call_at_plain(at, target._arrive, src, sent if i == 0 else wire_copy(sent),
                               target.incarnation, epoch)

    def _retransmission(self, loss: float) -> float | None:
        """The time TCP's retransmissions add to a message whose every transmission is lost
        with probability ``loss`` (rule 6); None when TCP gives up and the message is lost."""
        delay, rto = 0.0, RTO
        for _ in range(MAX_RETRIES + 1):
            if self.rng.random() <= 1.0 - loss:
                return delay
            delay += rto
            rto *= 2
        return None


class SimEndpoint:
    """One node's :class:`~splitbrain.db.env.Transport` on a :class:`SimNetwork` (see the
    module's rules 4 and 5)."""

    def __init__(self, name: str, network: SimNetwork):
        self.name = name
        self.network = network
        self.up = False
        self.paused = False
        self.incarnation = 0
        self._handler: Handler | None = None
        self._tasks: dict[asyncio.Task, None] = {}  # insertion-ordered, unlike a set
        self._held_in: list[tuple[str, Message]] = []
        self._held_out: list[tuple[str, Message]] = []

    def set_handler(self, handler: Handler) -> None:
        self._handler = handler

    async def start(self) -> None:
        self.incarnation += 1
        self.up = True

    async def close(self) -> None:
        """Stop receiving and sending; what was held while paused is lost with the process."""
        self.up = False
        self.paused = False
        self._held_in.clear()
        self._held_out.clear()
        tasks, self._tasks = list(self._tasks), {}
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def send(self, dest: str, msg: Message) -> None:
        if not self.up:
            return
        if self.paused:
            self._held_out.append((dest, msg))
            return
        self.network._send(self.name, dest, msg)

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        """Let go what was held: first what the node sent, then what arrived for it."""
        if not self.paused:
            return
        self.paused = False
        held_out, self._held_out = self._held_out, []
        for dest, msg in held_out:
            self.network._send(self.name, dest, msg)
        held_in, self._held_in = self._held_in, []
        for src, msg in held_in:
            self._deliver(src, msg)

    def _arrive(self, src: str, msg: Message, incarnation: int, epoch: int) -> None:
        if (not self.up or incarnation != self.incarnation
                or epoch != self.network._epoch.get((src, self.name), 0)):
            self.network.lost += 1
            return
        if self.paused:
            self._held_in.append((src, msg))
            return
        self._deliver(src, msg)

    def _deliver(self, src: str, msg: Message) -> None:
        if self._handler is None:
            return
        self.network.delivered += 1
        result = self._handler(src, msg)
        if result is not None and asyncio.iscoroutine(result):
            task = asyncio.get_running_loop().create_task(result)
            self._tasks[task] = None
            task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task) -> None:
        self._tasks.pop(task, None)  # gone already when close() cancelled it
