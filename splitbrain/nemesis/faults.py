"""The fault kinds, each a small class in Jepsen's Nemesis style: every fault it starts it can
heal.

A nemesis op is a dict ``{"f": F, "value": TARGETS}``, recorded in the history as a
``process: "nemesis"`` invoke and its ``info`` completion:

=============  ==============================================  ================
kind           start f                                          stop f
=============  ==============================================  ================
``partition``  ``start-partition`` value {"topology", "cut"}   ``stop-partition``
``kill``       ``kill`` value {"nodes": [...]}                  ``restart``
``crash``      ``start-crash`` value {"nodes": [...]}           ``stop-crash``
``pause``      ``pause`` value {"nodes": [...]}                 ``resume``
``clock``      ``bump-clock`` value {"offsets": {node: s}} or   ``reset-clock``
               ``strobe-clock`` value {"nodes", "delta", "period"}
``clock-rate`` ``rate-clock`` value {"rates": {node: factor}}   ``reset-rate``
``latency``    ``start-latency`` value {"links", "seconds"}     ``stop-latency``
``isolate-     ``start-isolate-leader`` value {"pick"}; its    ``stop-isolate-leader``
leader``       completion adds "partition", "node", "cut"
``kill-        ``start-kill-owners`` value {"pick"}; its        ``stop-kill-owners``
owners``       completion adds "nodes"
``one-way``    ``start-one-way`` value {"topology", "cut"}      ``stop-one-way``
``bridge``     ``start-bridge`` value {"topology", "cut"}       ``stop-bridge``
``leader-      ``start-leader-latency`` value {"pick",          ``stop-leader-latency``
latency``      "seconds"}; its completion adds "partition",
               "node", "slow"
``leader-      ``start-leader-one-way`` value {"pick",          ``stop-leader-one-way``
one-way``      "seconds"}; its completion adds "partition",
               "leads", "node", "slow", "cut"
``leader-      ``start-leader-clock`` value {"pick", "offset"};  ``stop-leader-clock``
clock``        its completion adds "partition", "leads",
               "node", "cut"
``flap-        ``start-flap-owners`` value {"pick"}; its        ``stop-flap-owners``
owners``       completion adds "nodes"                         (restart on a stalled
                                                               disk, kill once seen
                                                               up, restart)
``strand-      ``start-strand-follower`` value {"pick",        ``stop-strand-
follower``     "strand", "sync_delay"}; its completion adds    follower`` (waits
               "partition", "node", "nodes", "stranded",       for an election)
               "cut"
``reject-      ``start-reject-leader`` value {"pick",           ``stop-reject-leader``
leader``       "seconds"}; its completion adds "partition",
               "leads", "node", "rejected", "cut"
``lag-         ``start-lag-successor`` value {"pick", "lag",    ``stop-lag-successor``
successor``    "sync_delay"}; its completion adds "partition",  (restart, sound disk,
               "node", "successor", "follower", "rejected",     heal)
               "candidate", "elected"
=============  ==============================================  ================

Why each targeted kind exists (docs/detection.md, "Blind spots"): a lease bug shows only while
an old leader keeps serving *and* hears nothing of the new one, so ``leader-one-way`` and
``leader-clock`` keep the old leader from hearing its group while they stretch its lease (late
acks; a wall clock stepped back); ``leader-latency`` makes forwarded writes outlive the
forwarder's request budget while the leader still commits them; ``flap-owners`` brings a key
range's owners back on stalled disks and kills them once their peers see them up, so that
peers hand hints to nodes that cannot make them durable; ``strand-follower`` stalls the disks of
a leader and a follower, kills them, and keeps the third member away while the two elect, so
that a slot only that member accepted is not chosen; ``reject-leader`` loses what a plain cut
only delays: the acknowledgements of proposals its followers accepted (a cut that holds its
bytes delivers them on the heal, ahead of the new leader's ballot); ``lag-successor`` elects a
leader that lags its predecessor's acknowledged writes and leases it before it has recovered
them (its first proposals to its one live follower lost, that follower's disk stalled).

The targeted kinds choose their targets when they start, from the cluster's own status
(``GET /admin/status``), as the tester can only know who leads at that moment: ``pick`` (a
number in [0, 1) drawn from the seed) selects which partition or ring range.

Which clock each mode's timers see: ``clock`` moves only the wall clock, which only ``lww``
reads (its write timestamps); ``clock-rate`` changes the rate of the monotonic clock, which
``dynamodb`` leases, heartbeats and elections and every mode's failure detector read. Both
reach the node through ``PUT /admin/clock``.

``cut`` is ``{a: [b, ...]}``: a's messages to each b are dropped. A completion's value adds
``"failed": {node: reason}`` for targets the fault could not reach (a killed node cannot have
its clock set), rather than aborting the test.

Each kind names the capability of :mod:`splitbrain.harness.interfaces` it needs
(:attr:`Nemesis.needs`, and of the network :attr:`Nemesis.net_needs`); :meth:`Nemesis.check`
refuses, in one sentence, a cluster without it.
Node ops map to cluster actions through the explicit table :data:`NODE_ACTIONS`.

Each class has :meth:`Nemesis.plan` (pure: choose the fault from the node names and a seeded
rng), :meth:`Nemesis.perform` (do it), :meth:`Nemesis.start` (both), :meth:`Nemesis.stopping`
(the stop op, or None when nothing is active) and :meth:`Nemesis.stop` (heal it).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
from abc import ABC, abstractmethod
from typing import Any, Awaitable, Callable

from splitbrain.errors import TesterFailure
from splitbrain.harness.interfaces import (Capability, ClockControl, Crashable, DiskControl,
                                           Introspectable, Killable, LinkResets, Nodes,
                                           Pausable, require)
from splitbrain.nemesis import topology

Cluster = Nodes  # the cluster a fault acts on: Nodes, plus the capability its kind needs

Op = dict[str, Any]
TARGETS = ("one", "minority", "majority", "all")


def choose_nodes(names: list[str], rng: random.Random, targets: tuple[str, ...]) -> list[str]:
    """A random target set: one node, a minority, a majority or all of them."""
    n = len(names)
    which = rng.choice(targets)
    size = {"one": 1, "minority": rng.randint(1, max(1, (n - 1) // 2)),
            "majority": n // 2 + 1, "all": n}[which]
    return sorted(rng.sample(names, size))


async def _each(nodes: list[str], action: Callable[[str], Awaitable[Any]]) -> dict[str, str]:
    """Run ``action`` on every node concurrently; the nodes it failed on, with the reason."""
    results = await asyncio.gather(*(action(n) for n in nodes), return_exceptions=True)
    failed = {}
    for node, result in zip(nodes, results):
        if isinstance(result, TesterFailure):
            failed[node] = str(result)
        elif isinstance(result, BaseException):
            raise result
    return failed


def _done(op: Op, failed: dict[str, str]) -> Op:
    return {"f": op["f"], "value": {**op["value"], "failed": failed} if failed else op["value"]}


class Nemesis(ABC):
    """One kind of fault. At most one fault of a kind is active at a time."""

    kind: str
    needs: tuple[Capability, ...] = ()
    net_needs: tuple[Capability, ...] = ()
    instead: str = ""

    def __init__(self) -> None:
        self.active: Op | None = None

    def check(self, cluster: Cluster) -> None:
        """Raise BadInput, one sentence, when ``cluster`` lacks what this kind needs."""
        for capability in self.needs:
            require(cluster, capability, f"the {self.kind} nemesis",
                    self.instead or f"drop {self.kind} from --nemesis")
        for capability in self.net_needs:
            require(cluster.net, capability, f"the {self.kind} nemesis",
                    self.instead or f"drop {self.kind} from --nemesis", what="network")

    @abstractmethod
    def plan(self, names: list[str], rng: random.Random) -> Op:
        """The start op: which fault, on which nodes. Pure."""

    @abstractmethod
    async def _apply(self, cluster: Cluster, op: Op) -> dict[str, str]:
        """Do ``op`` (a start or stop op of this kind); the targets it failed on."""

    @abstractmethod
    def _stop_op(self, active: Op) -> Op:
        """The op that heals ``active``."""

    async def perform(self, cluster: Cluster, op: Op) -> Op:
        """Do the start op ``op`` (from :meth:`plan`) and return its completion."""
        if self.active is not None:
            raise RuntimeError(f"a {self.kind} fault is already active: {self.active}")
        self.active = op
        return _done(op, await self._apply(cluster, op))

    async def start(self, cluster: Cluster, rng: random.Random) -> Op:
        """Start a random fault of this kind; returns what it did."""
        return await self.perform(cluster, self.plan(cluster.names, rng))

    def stopping(self) -> Op | None:
        """The op :meth:`stop` would run, or None when no fault is active."""
        return None if self.active is None else self._stop_op(self.active)

    async def stop(self, cluster: Cluster) -> Op:
        """Heal the active fault; returns what it did (``{}`` when none was active)."""
        op = self.stopping()
        if op is None:
            return {}
        failed = await self._apply(cluster, op)
        self.active = None
        return _done(op, failed)


class Partition(Nemesis):
    """Cut the network into one of :data:`topology.TOPOLOGIES` (a random one unless given):
    both directions of every link between nodes the topology separates."""

    kind = "partition"
    TOPOLOGIES: tuple[str, ...] = topology.TOPOLOGIES

    def __init__(self, topologies: tuple[str, ...] | None = None):
        super().__init__()
        self.topologies = topologies or self.TOPOLOGIES

    def plan(self, names: list[str], rng: random.Random) -> Op:
        usable = [t for t in self.topologies if not (t == "majorities-ring" and len(names) < 4)
                  and not (t == "bridge" and len(names) < 3)]
        name = rng.choice(usable or ["one"])
        cut: dict[str, list[str]] = {}
        for a, b in self._links(topology.build(name, names, rng), rng):
            cut.setdefault(a, []).append(b)
        return {"f": f"start-{self.kind}", "value": {"topology": name, "cut": cut}}

    def _links(self, graph: Any, rng: random.Random) -> list[tuple[str, str]]:
        """The directed links to cut under ``graph``."""
        return topology.links_to_cut(graph)

    def _stop_op(self, active: Op) -> Op:
        return {"f": f"stop-{self.kind}", "value": {"topology": active["value"]["topology"]}}

    async def _apply(self, cluster: Cluster, op: Op) -> dict[str, str]:
        if op["f"].startswith("start-"):
            await cluster.net.cut((a, b) for a, bs in op["value"]["cut"].items() for b in bs)
        else:
            await cluster.net.cut(())  # heals the cut only: a latency fault may overlap
        return {}


class Bridge(Partition):
    """A partition whose sides overlap: always the ``bridge`` or ``majorities-ring`` topology,
    where a node (or every node) talks to two groups that cannot talk to each other, so a
    leader can keep its lease through nodes that a candidate also asks for votes."""

    kind = "bridge"
    TOPOLOGIES = ("bridge", "majorities-ring")


class OneWay(Partition):
    """A one-way partition: the topology (``one``, ``halves`` or ``majority-minority``)
    splits the nodes into two sides, and only one side's messages to the other are dropped
    (on the proxy: held until the heal) while the other side's flow, as a failed transmit path
    or a one-way firewall rule does. Which side goes mute is drawn."""

    kind = "one-way"
    TOPOLOGIES = ("one", "halves", "majority-minority")

    def _links(self, graph: Any, rng: random.Random) -> list[tuple[str, str]]:
        return topology.one_way_links(graph, rng)


NODE_ACTIONS: dict[str, Callable[[Any, str], Awaitable[None]]] = {
    "kill": lambda cluster, node: cluster.kill(node),
    "restart": lambda cluster, node: cluster.restart(node),
    "start-crash": lambda cluster, node: cluster.crash(node),
    "stop-crash": lambda cluster, node: cluster.restart(node),
    "pause": lambda cluster, node: cluster.pause(node),
    "resume": lambda cluster, node: cluster.resume(node),
}
"""What each node op's ``f`` does to one node of a cluster (the history's op names are not
method names)."""


class NodeFault(Nemesis):
    """A fault on a random set of nodes (one, a minority, a majority or all): the start op's
    ``f`` and the stop op's ``f`` are keys of :data:`NODE_ACTIONS`."""

    start_f: str
    stop_f: str

    def __init__(self, targets: tuple[str, ...] = TARGETS):
        super().__init__()
        self.targets = targets

    def plan(self, names: list[str], rng: random.Random) -> Op:
        return {"f": self.start_f, "value": {"nodes": choose_nodes(names, rng, self.targets)}}

    def _stop_op(self, active: Op) -> Op:
        return {"f": self.stop_f, "value": {"nodes": active["value"]["nodes"]}}

    async def _apply(self, cluster: Cluster, op: Op) -> dict[str, str]:
        action = NODE_ACTIONS[op["f"]]
        return await _each(op["value"]["nodes"], lambda node: action(cluster, node))


class Kill(NodeFault):
    """SIGKILL the targets; stop restarts them."""

    kind, start_f, stop_f = "kill", "kill", "restart"
    needs = (Killable,)


class Crash(NodeFault):
    """Power-loss the targets, as Jepsen's lazyfs does: SIGKILL, then their storage loses
    what it had written but not synced; stop restarts them. A splitbrain node's log keeps
    records it has not synced in its own memory until it writes and syncs them together, so
    ``kill`` already loses those; what ``crash`` adds is the bytes a sync had written to the
    OS but not yet made durable when the node died (a slow disk's fsync runs on a thread)."""

    kind, start_f, stop_f = "crash", "start-crash", "stop-crash"
    needs = (Crashable, Killable)


class Pause(NodeFault):
    """SIGSTOP the targets; stop sends SIGCONT."""

    kind, start_f, stop_f = "pause", "pause", "resume"
    needs = (Pausable,)


class Clock(Nemesis):
    """Skew wall clocks through the nodes' clock offset (``PUT /admin/clock``).

    ``bump-clock`` sets each target's offset to a random +-1..``max_bump`` seconds (log-uniform,
    as Jepsen's bumps); ``strobe-clock`` flips each target's offset between 0 and ``delta``
    every ``period`` seconds until stopped. ``reset-clock`` sets the targets' offsets to 0.
    """

    kind = "clock"
    needs = (ClockControl,)

    def __init__(self, modes: tuple[str, ...] = ("bump", "strobe"), max_bump: float = 256.0,
                 period: float = 0.05):
        super().__init__()
        self.modes = modes
        self.max_bump = max_bump
        self.period = period
        self._strobe: asyncio.Task | None = None

    def plan(self, names: list[str], rng: random.Random) -> Op:
        nodes = sorted(rng.sample(names, rng.randint(1, len(names))))
        if rng.choice(self.modes) == "bump":
            exp = math.log2(self.max_bump)
            offsets = {n: round(rng.choice((-1, 1)) * 2 ** rng.uniform(0, exp), 3) for n in nodes}
            return {"f": "bump-clock", "value": {"offsets": offsets}}
        delta = round(2 ** rng.uniform(-3, 4), 3)
        return {"f": "strobe-clock", "value": {"nodes": nodes, "delta": delta,
                                                "period": self.period}}

    def _stop_op(self, active: Op) -> Op:
        v = active["value"]
        return {"f": "reset-clock", "value": {"nodes": sorted(v.get("offsets") or v["nodes"])}}

    async def _apply(self, cluster: Cluster, op: Op) -> dict[str, str]:
        v = op["value"]
        if op["f"] == "bump-clock":
            return await _each(list(v["offsets"]),
                               lambda n: cluster.set_clock_offset(n, v["offsets"][n]))
        if op["f"] == "strobe-clock":
            failed = await _each(v["nodes"], lambda n: cluster.set_clock_offset(n, v["delta"]))
            self._strobe = asyncio.create_task(self._strobing(cluster, v))
            return failed
        if self._strobe is not None:
            self._strobe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._strobe
            self._strobe = None
        return await _each(v["nodes"], lambda n: cluster.set_clock_offset(n, 0.0))

    async def _strobing(self, cluster: Cluster, v: dict[str, Any]) -> None:
        high = True
        while True:
            await asyncio.sleep(v["period"])
            high = not high
            await _each(v["nodes"], lambda n: cluster.set_clock_offset(n, v["delta"] if high
                                                                      else 0.0))


class ClockRate(Nemesis):
    """Make the targets' monotonic clocks run fast or slow (``rate-clock``): each target
    gets a factor in ``1 +- max_drift``; ``reset-rate`` sets them back to 1. The default
    stays inside the drift that dynamodb's leases allow for (``paxos.Timing.drift`` = 10 %
    between two clocks), so a correct store stays correct while lease bugs meet drift."""

    kind = "clock-rate"
    needs = (ClockControl,)

    def __init__(self, max_drift: float = 0.04):
        super().__init__()
        self.max_drift = max_drift

    def plan(self, names: list[str], rng: random.Random) -> Op:
        nodes = sorted(rng.sample(names, rng.randint(1, len(names))))
        return {"f": "rate-clock", "value": {"rates": {
            n: round(1 + rng.uniform(-self.max_drift, self.max_drift), 4) for n in nodes}}}

    def _stop_op(self, active: Op) -> Op:
        return {"f": "reset-rate", "value": {"nodes": sorted(active["value"]["rates"])}}

    async def _apply(self, cluster: Cluster, op: Op) -> dict[str, str]:
        v = op["value"]
        rates = v["rates"] if op["f"] == "rate-clock" else dict.fromkeys(v["nodes"], 1.0)
        return await _each(list(rates), lambda n: cluster.set_clock_rate(n, rates[n]))


class Latency(Nemesis):
    """Slow every link *into* one node or a minority by the same delay (``start-latency``,
    50 ms to 1 s, log-uniform): a leader among them hears heartbeat acks and accepts late
    while its own messages leave on time. ``stop-latency`` removes the delay."""

    kind = "latency"

    def plan(self, names: list[str], rng: random.Random) -> Op:
        slow = choose_nodes(names, rng, ("one", "minority"))
        links = [[a, b] for b in slow for a in names if a != b]
        return {"f": "start-latency", "value": {"links": links,
                                                "seconds": round(2 ** rng.uniform(-4.3, 0), 3)}}

    def _stop_op(self, active: Op) -> Op:
        return {"f": "stop-latency", "value": {"links": active["value"]["links"]}}

    async def _apply(self, cluster: Cluster, op: Op) -> dict[str, str]:
        seconds = op["value"]["seconds"] if op["f"] == "start-latency" else 0.0
        await cluster.net.delay([(a, b) for a, b in op["value"]["links"]], seconds)
        return {}


async def _any_status(cluster: Cluster) -> dict[str, Any]:
    """The ``/admin/status`` of the first running node that answers; TesterFailure if none
    does."""
    assert isinstance(cluster, Introspectable)
    for name in cluster.names:
        with contextlib.suppress(TesterFailure):
            if not isinstance(cluster, Killable) or await cluster.is_running(name):
                return await cluster.admin_status(name)
    raise TesterFailure("no node answered GET /admin/status, so a targeted fault has no target")


async def _find_leader(cluster: Cluster, v: dict[str, Any], *, busiest: bool = False) -> str:
    """The current leader of the dynamodb partition at position ``v["pick"]`` (its first
    replica while it has none; in the leaderless modes the first replica of a ring range),
    recorded in ``v`` as ``node`` (and ``partition``). With ``busiest``, the node that leads
    the most partitions instead (``pick`` chooses among ties), so that the fault reaches the
    most keys."""
    return _leader_in(await _any_status(cluster), v, busiest=busiest)


def _leader_in(status: dict[str, Any], v: dict[str, Any], *, busiest: bool = False) -> str:
    """:func:`_find_leader` on a node's ``/admin/status`` body ``status``."""
    parts = status.get("partitions")
    if parts:
        order = sorted(parts, key=int)
        leaders = {q: parts[q].get("leader") or parts[q]["replicas"][0] for q in order}
        p = order[int(v["pick"] * len(order))]
        if busiest:
            counts = {n: list(leaders.values()).count(n) for n in sorted(set(leaders.values()))}
            top = [n for n, c in counts.items() if c == max(counts.values())]
            chosen = top[int(v["pick"] * len(top))]
            p = next(q for q in order if leaders[q] == chosen)
            v["leads"] = [int(q) for q in order if leaders[q] == chosen]
        node = leaders[p]
        v["partition"] = int(p)
    else:
        node = _range_owners(status, v["pick"])[0]
    v["node"] = node
    return node


def _around(node: str, names: list[str]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The directed links out of ``node`` and into it."""
    others = [n for n in names if n != node]
    return [(node, b) for b in others], [(a, node) for a in others]


POLL = 0.05
"""Seconds between two ``/admin/status`` polls of a fault that waits on what nodes report."""


async def _first_seen(cluster: Cluster, nodes: list[str],
                      seen: Callable[[str, dict[str, Any]], str | None],
                      timeout: float) -> str | None:
    """Poll the ``/admin/status`` of ``nodes`` every :data:`POLL` seconds until
    ``seen(node, status)`` returns a name for one of them: that name; None once ``timeout``
    seconds passed first (a node that does not answer counts as seeing nothing)."""
    assert isinstance(cluster, Introspectable)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        for node in nodes:
            with contextlib.suppress(TesterFailure):
                found = seen(node, await cluster.admin_status(node))
                if found is not None:
                    return found
        if loop.time() >= deadline:
            return None
        await asyncio.sleep(POLL)


class IsolateLeader(Nemesis):
    """Cut the current leader of one dynamodb partition off from every other node (both
    directions), the fault a leased leader must survive without serving stale reads. In the
    leaderless modes it picks the first replica of a ring range instead."""

    kind = "isolate-leader"
    needs: tuple[Capability, ...] = (Introspectable,)
    busiest = False  # target the node leading the most partitions, not ``pick``'s leader

    def plan(self, names: list[str], rng: random.Random) -> Op:
        return {"f": f"start-{self.kind}", "value": {"pick": round(rng.random(), 6)}}

    def _stop_op(self, active: Op) -> Op:
        return {"f": f"stop-{self.kind}", "value": {"node": active["value"].get("node")}}

    async def _apply(self, cluster: Cluster, op: Op) -> dict[str, str]:
        if op["f"].startswith("stop-"):
            await cluster.net.cut(())
            return {}
        v = op["value"]
        node = await _find_leader(cluster, v, busiest=self.busiest)
        out, into = _around(node, cluster.names)
        v["cut"] = {node: [b for _, b in out]}
        await cluster.net.cut(out + into)
        return {}


class LeaderClock(IsolateLeader):
    """Cut off the node that leads the most partitions (``pick`` chooses among ties; as
    ``isolate-leader`` otherwise) and step its wall clock back by ``-offset`` seconds (1.5 to
    4 leases of the default 2 s), as an NTP step during a partition does. A node that times
    its lease on the wall clock then believes it for that much longer, in every partition it
    leads, while the rest of each group elects another leader; a node that times it on the
    monotonic clock, as dynamodb's correct one does, is unaffected. Leading the most
    partitions, it serves the most keys' strong reads stale. The stop heals the cut and sets
    the offset back to 0."""

    kind = "leader-clock"
    needs = (Introspectable, ClockControl)
    busiest = True

    def plan(self, names: list[str], rng: random.Random) -> Op:
        op = super().plan(names, rng)
        op["value"]["offset"] = -round(rng.uniform(3.0, 8.0), 3)
        return op

    async def _apply(self, cluster: Cluster, op: Op) -> dict[str, str]:
        assert isinstance(cluster, ClockControl)
        await super()._apply(cluster, op)
        node, offset = op["value"].get("node"), op["value"].get("offset", 0.0)
        return await _each([node] if node else [], lambda n: cluster.set_clock_offset(n, offset))

    def _stop_op(self, active: Op) -> Op:
        stop = super()._stop_op(active)
        stop["value"]["offset"] = 0.0
        return stop


class LeaderLatency(Nemesis):
    """Slow every link *into* the current leader of one partition by ``seconds``, drawn
    around the request budget (0.5 to 1.5 s; the node's default budget is 0.9 s of its 1 s
    request timeout): writes forwarded to it outlive the forwarder's wait while the leader,
    whose lease counts from its heartbeats' send times, still holds it (the delay stays under
    the 1.8 s a lease lasts) and commits them. The stop removes the delay."""

    kind = "leader-latency"
    needs: tuple[Capability, ...] = (Introspectable,)
    cuts_out = False
    SECONDS = (0.5, 1.5)  # the range the delay is drawn from

    def plan(self, names: list[str], rng: random.Random) -> Op:
        seconds = round(rng.uniform(*self.SECONDS), 3)
        return {"f": f"start-{self.kind}", "value": {"pick": round(rng.random(), 6),
                                                    "seconds": seconds}}

    def _stop_op(self, active: Op) -> Op:
        return {"f": f"stop-{self.kind}", "value": {"node": active["value"].get("node"),
                                                   "slow": active["value"].get("slow", [])}}

    async def _apply(self, cluster: Cluster, op: Op) -> dict[str, str]:
        v = op["value"]
        if op["f"].startswith("stop-"):
            if self.cuts_out:
                await cluster.net.cut(())
            await cluster.net.delay([(a, b) for a, b in v["slow"]], 0.0)
            return {}
        node = await _find_leader(cluster, v, busiest=self.cuts_out)
        out, into = _around(node, cluster.names)
        v["slow"] = [list(link) for link in into]
        await cluster.net.delay(into, v["seconds"])
        if self.cuts_out:
            # Only acks sent after the delay began arrive late: let a delay's worth of them
            # be on their way before the cut.
            await asyncio.sleep(v["seconds"])
            v["cut"] = {node: [b for _, b in out]}
            await cluster.net.cut(out)
        return {}


class LeaderOneWay(LeaderLatency):
    """The links into the current leader of one partition slow down by ``seconds`` (1.6 to
    1.9 s: about the 1.8 s a lease lasts, so that a correct leader, counting from its
    heartbeats' send times, barely holds one, and under the 2 s for which a leader remembers
    a heartbeat's acks), and ``seconds`` later its outgoing links are cut (the proxy holds
    their bytes until the heal), as an asymmetric, congested link that then fails one way.
    Of the leaders, it picks the one that leads the most partitions, which takes the most
    keys' leases with it. Its followers stop hearing heartbeats and elect a new leader, whose
    messages reach the old one only that late, while acks of the heartbeats it sent in its
    last ``seconds`` keep arriving: a lease counted from an ack's arrival outlives the one the
    followers granted. The start op takes ``seconds`` longer than the others."""

    kind = "leader-one-way"
    cuts_out = True
    SECONDS = (1.6, 1.9)  # a late ack stretches a lease counted from its arrival by this


class RejectLeader(Nemesis):
    """The links into the leader of the most partitions start rejecting (connections reset,
    what they held lost, new ones closed at once, as a firewall REJECT rule does), and
    ``seconds`` later (0.5 to 1.5 s, within the lease it holds) its outgoing links too; the
    stop heals both. Its followers accept the proposals it makes in between (for its own
    clients: forwarded requests are rejected with the rest), but their acknowledgements are
    lost, not held: the leader cannot learn that those writes were chosen. Cut off both ways, it
    loses its followers, who elect a new leader that recovers the writes; on the heal the new
    ballot reaches the old leader while its clients still wait for them (with a request
    budget longer than the interval), and it must not call them failed. The start op takes
    ``seconds`` longer than the others. Needs a network that can reset links."""

    kind = "reject-leader"
    needs: tuple[Capability, ...] = (Introspectable,)
    net_needs: tuple[Capability, ...] = (LinkResets,)
    instead = "use --net proxy, or drop reject-leader from --nemesis"
    SECONDS = (0.5, 1.5)  # how long only the leader's inbound links reject

    def plan(self, names: list[str], rng: random.Random) -> Op:
        return {"f": f"start-{self.kind}", "value": {"pick": round(rng.random(), 6),
                                                    "seconds": round(
                                                        rng.uniform(*self.SECONDS), 3)}}

    def _stop_op(self, active: Op) -> Op:
        return {"f": f"stop-{self.kind}", "value": {"node": active["value"].get("node")}}

    async def _apply(self, cluster: Cluster, op: Op) -> dict[str, str]:
        net = cluster.net
        assert isinstance(net, LinkResets)
        if op["f"].startswith("stop-"):
            await net.cut(())
            return {}
        v = op["value"]
        node = await _find_leader(cluster, v, busiest=True)
        out, into = _around(node, cluster.names)
        v["rejected"] = {a: [node] for a, _ in into}
        await net.reject(into)
        await asyncio.sleep(v["seconds"])
        v["cut"] = {node: [b for _, b in out]}
        await net.reject(out + into)
        return {}


class KillOwners(Nemesis):
    """SIGKILL every replica of one key range (a dynamodb partition's group, or the first
    ``n`` nodes of a ring range's preference list), so its keys have no copy running; stop
    restarts them."""

    kind = "kill-owners"
    needs: tuple[Capability, ...] = (Introspectable, Killable)

    def plan(self, names: list[str], rng: random.Random) -> Op:
        return {"f": f"start-{self.kind}", "value": {"pick": round(rng.random(), 6)}}

    def _stop_op(self, active: Op) -> Op:
        return {"f": f"stop-{self.kind}", "value": {"nodes": active["value"].get("nodes", [])}}

    async def _apply(self, cluster: Cluster, op: Op) -> dict[str, str]:
        assert isinstance(cluster, Killable)
        v = op["value"]
        if op["f"].startswith("stop-"):
            return await self._restart(cluster, v)
        status = await _any_status(cluster)
        parts = status.get("partitions")
        if parts:
            p = sorted(parts, key=int)[int(v["pick"] * len(parts))]
            v["partition"], v["nodes"] = int(p), sorted(parts[p]["replicas"])
        else:
            v["nodes"] = sorted(_range_owners(status, v["pick"]))
        return await _each(v["nodes"], cluster.kill)

    async def _restart(self, cluster: Cluster, v: dict[str, Any]) -> dict[str, str]:
        """Heal: restart the owners ``v["nodes"]``; the ones that failed."""
        assert isinstance(cluster, Killable)
        return await _each(v["nodes"], cluster.restart)


FLAP_SEEN = 5.0
"""Seconds ``flap-owners`` waits, at most, for the other nodes (the would-be hint holders) to
report a restarted owner up (``/admin/status`` ``members``) before it goes on anyway."""

FLAP_STALL = 10.0
"""Seconds by which a restarted owner's syncs are delayed until ``flap-owners`` kills it again
(far longer than it lives): nothing it receives meanwhile becomes durable."""

FLAP_STALLED = 0.8
"""Seconds ``flap-owners`` lets a restarted owner run on its stalled disk once the holders saw
it up, before it kills it: more than one of dynamo's 0.5 s handoff rounds."""

FLAP_DOWN = 1.5
"""Seconds ``flap-owners`` keeps the owners down after their second kill: more than the
dynamo failure detector's 1 s, so that peers have acted on seeing them up and seen them down
again before they return for good."""


class FlapOwners(KillOwners):
    """``kill-owners`` whose owners come back on a failing disk and crash again: the stop
    restarts the owners cut off from the other nodes (the would-be hint holders), stalls their
    syncs (:data:`FLAP_STALL`), heals the cut, and kills each owner :data:`FLAP_STALLED`
    seconds after every holder reported it up (polling ``/admin/status`` ``members``; at
    most :data:`FLAP_SEEN` seconds);
    once every owner is dead it waits :data:`FLAP_DOWN` seconds and restarts them for good
    (on sound disks). A holder that sees an owner up hands it the hints it held while the
    owner was down at its next handoff round; the owner cannot make them durable, so it never
    acknowledges them, and its kill loses them: a store that deletes a hint before its owner
    acknowledged it loses the write, while a correct one keeps it for the final restart. The
    stop's completion adds ``"seen"``: for each owner, the nodes that reported it up."""

    kind = "flap-owners"
    needs = (Introspectable, Killable, DiskControl)

    async def _restart(self, cluster: Cluster, v: dict[str, Any]) -> dict[str, str]:
        assert isinstance(cluster, Killable) and isinstance(cluster, DiskControl)
        owners = v["nodes"]
        holders = [n for n in cluster.names if n not in owners]
        # The holders must not reach an owner before its disk stalls (they would hand it
        # their hints at once): cut them apart while the owners restart.
        await cluster.net.cut([link for o in owners for h in holders
                               for link in ((o, h), (h, o))])
        failed = await _each(owners, cluster.restart)
        up = [o for o in owners if o not in failed]
        failed.update(await _each(up, lambda o: cluster.set_sync_delay(o, FLAP_STALL)))
        await cluster.net.cut(())
        seen: dict[str, list[str]] = {}

        async def kill_once_seen(owner: str) -> None:
            found = await asyncio.gather(*(_first_seen(
                cluster, [h], lambda node, status: node
                if status.get("members", {}).get(owner) == "up" else None, FLAP_SEEN)
                for h in holders))
            seen[owner] = [h for h in found if h is not None]
            await asyncio.sleep(FLAP_STALLED)
            await cluster.kill(owner)

        failed.update(await _each(up, kill_once_seen))
        v["seen"] = seen
        await asyncio.sleep(FLAP_DOWN)
        failed.update(await _each(v["nodes"], cluster.restart))
        return failed


STRAND_SLOWED = 0.5
"""Seconds ``strand-follower`` lets the doomed nodes run on slowed disks before it kills them:
long enough that their leader has proposals in flight that only fast disks made durable."""

STRAND_ELECTION = 10.0
"""Seconds ``strand-follower``'s stop waits, at most, for a restarted member to report that it
or the other restarted member leads the partition, before it heals the cut anyway."""


class StrandFollower(Nemesis):
    """The disks of the current leader of one dynamodb partition and of all but one of its
    followers stall (every sync starts ``sync_delay`` seconds late, 0.05 to 0.3 s) for
    :data:`STRAND_SLOWED` seconds; then those nodes are killed at the same instant, the
    remaining follower (the stranded one) is cut off from every node, and the killed are
    restarted (on sound disks). The stop waits until a restarted member reports a leader among
    the restarted (at most :data:`STRAND_ELECTION` seconds: a restarted replica promises
    nothing for a lease, then the two elect), then heals the cut.

    What it exposes: the killed lose every accept they had not synced, so the slots their
    leader proposed in its last ``sync_delay`` seconds are durable only at the stranded
    follower (whose disk is sound; on this machine an fsync takes less time than a message's
    trip, so without the stall the leader's own accept is durable before any follower even
    receives the proposal). The new leader, elected without the stranded follower, chooses
    something else in those slots. A follower that applied what it merely accepted has then
    diverged from the chosen log; an acceptor that acknowledged before syncing has lost a
    chosen write. In the leaderless modes the first owner of a ring range stands for the
    leader. The start's completion adds ``partition`` (dynamodb), ``node`` (the leader),
    ``nodes`` (the killed), ``stranded`` and ``cut``; the stop's adds ``elected`` (the leader
    the restarted members reported, None if none did in time)."""

    kind = "strand-follower"
    needs = (Introspectable, Killable, DiskControl)

    def plan(self, names: list[str], rng: random.Random) -> Op:
        return {"f": f"start-{self.kind}", "value": {
            "pick": round(rng.random(), 6), "strand": round(rng.random(), 6),
            "sync_delay": round(rng.uniform(0.05, 0.3), 3)}}

    def _stop_op(self, active: Op) -> Op:
        v = active["value"]
        return {"f": f"stop-{self.kind}", "value": {k: v.get(k) for k in (
            "partition", "nodes", "stranded")}}

    async def _apply(self, cluster: Cluster, op: Op) -> dict[str, str]:
        assert isinstance(cluster, Killable)
        v = op["value"]
        if op["f"].startswith("stop-"):
            v["elected"] = await self._elected(cluster, v)
            await cluster.net.cut(())
            return {}
        status = await _any_status(cluster)
        leader = _leader_in(status, v)
        parts = status.get("partitions")
        group = (parts[str(v["partition"])]["replicas"] if parts
                 else _range_owners(status, v["pick"]))
        followers = [n for n in group if n != leader]
        stranded = followers[int(v["strand"] * len(followers))]
        v["nodes"] = sorted(n for n in group if n != stranded)
        v["stranded"] = stranded
        assert isinstance(cluster, DiskControl)
        failed = await _each(v["nodes"], lambda n: cluster.set_sync_delay(n, v["sync_delay"]))
        await asyncio.sleep(STRAND_SLOWED)
        failed.update(await _each(v["nodes"], cluster.kill))
        out, into = _around(stranded, cluster.names)
        v["cut"] = {stranded: [b for _, b in out]}
        await cluster.net.cut(out + into)
        failed.update(await _each([n for n in v["nodes"] if n not in failed], cluster.restart))
        return failed

    @staticmethod
    async def _elected(cluster: Cluster, v: dict[str, Any]) -> str | None:
        """The leader of ``v["partition"]`` that a restarted member reports from among the
        restarted (None in the leaderless modes, or when none did in time)."""
        if v.get("partition") is None:
            return None
        restarted, part = v["nodes"], str(v["partition"])

        def elected(node: str, status: dict[str, Any]) -> str | None:
            leader = status.get("partitions", {}).get(part, {}).get("leader")
            return leader if leader in restarted else None

        return await _first_seen(cluster, restarted, elected, STRAND_ELECTION)


LAG_ELECTION = 6.0
"""Seconds ``lag-successor`` waits, at most, for its successor to report that it stands for
election, and then that it leads, before it goes on anyway."""

LAG_SETTLE = 0.05
"""Seconds ``lag-successor`` lets pass after it sees the successor stand (so that its ballot
reaches the last member, whose promise waits on its stalled disk) and after it sees it lead
(so that its first proposals and heartbeat to that member are lost) before each next step."""


class LagSuccessor(Nemesis):
    """A new dynamodb leader that lags its predecessor, elected with one live member whose
    stalled disk delays its accepts but not its heartbeat acks. Of the partition that has
    committed the most (highest commit index reported), with leader O, successor L (the first
    other replica: it stands for election first) and last member B: O's links to L reject, so
    L stops learning what O commits with B, and B's syncs start ``sync_delay`` seconds late;
    ``lag`` seconds later O is killed. Once L reports it stands for the partition (polled;
    at most :data:`LAG_ELECTION` s) and :data:`LAG_SETTLE` s passed, L's links to B reject
    too, losing L's first batch to B (its recovery proposals, then a heartbeat); once L
    reports it leads (at most :data:`LAG_ELECTION` s) and :data:`LAG_SETTLE` s passed, the
    rejects heal. L's next heartbeat resends heartbeat first, then the proposals: B acks the
    heartbeat at once (nothing of its own waits for a sync) and the proposals one slow sync
    later. A leader that serves once leased, before it applied the slots it recovers, then
    answers strong reads with values older than O acknowledged (serve-before-catch-up;
    tests/test_paxos.py plays the schedule). The stop restarts O, sets B's disk sound and
    heals. The start's completion adds ``partition``, ``node`` (O), ``successor`` (L),
    ``follower`` (B), ``candidate`` and ``elected`` (L when it reported standing and leading,
    None when it did not in time), ``rejected``; the start op takes ``lag`` seconds and the
    election longer than the others. In the leaderless modes, which elect nobody, the owners
    of the ring range at ``pick`` stand for O, L and B and nothing is awaited (``candidate``
    and ``elected`` stay None): only the lag, the stall and the kill remain. Needs a network
    that can reset links."""

    kind = "lag-successor"
    needs = (Introspectable, Killable, DiskControl)
    net_needs: tuple[Capability, ...] = (LinkResets,)
    instead = "use --net proxy, or drop lag-successor from --nemesis"
    LAG = (0.8, 1.2)  # seconds the successor misses the old leader's commits
    SYNC_DELAY = (0.25, 0.35)  # seconds B's syncs start late: the window of stale reads

    def plan(self, names: list[str], rng: random.Random) -> Op:
        return {"f": f"start-{self.kind}", "value": {
            "pick": round(rng.random(), 6), "lag": round(rng.uniform(*self.LAG), 3),
            "sync_delay": round(rng.uniform(*self.SYNC_DELAY), 3)}}

    def _stop_op(self, active: Op) -> Op:
        v = active["value"]
        return {"f": f"stop-{self.kind}", "value": {k: v.get(k) for k in ("node", "follower")}}

    async def _apply(self, cluster: Cluster, op: Op) -> dict[str, str]:
        assert isinstance(cluster, Killable) and isinstance(cluster, DiskControl)
        net = cluster.net
        assert isinstance(net, LinkResets)
        v = op["value"]
        if op["f"].startswith("stop-"):
            await net.cut(())
            failed = await _each([v["follower"]] if v.get("follower") else [],
                                 lambda n: cluster.set_sync_delay(n, 0.0))
            failed.update(await _each([v["node"]] if v.get("node") else [], cluster.restart))
            return failed
        status = await _any_status(cluster)
        parts = status.get("partitions")
        if parts:
            p = max(sorted(parts, key=int), key=lambda q: max(
                parts[q].get("commit_index", {}).values(), default=0))
            old = parts[p].get("leader") or parts[p]["replicas"][0]
            group = parts[p]["replicas"]
            v["partition"] = int(p)
        else:
            group = _range_owners(status, v["pick"])
            old = group[0]
        rest = [n for n in group if n != old]
        successor, follower = rest[0], rest[-1]
        v.update(node=old, successor=successor, follower=follower, rejected={old: [successor]},
                 candidate=None, elected=None)
        await net.reject([(old, successor)])
        failed = await _each([follower], lambda n: cluster.set_sync_delay(n, v["sync_delay"]))
        await asyncio.sleep(v["lag"])
        failed.update(await _each([old], cluster.kill))

        def in_role(*roles: str) -> Callable[[str, dict[str, Any]], str | None]:
            def seen(node: str, status: dict[str, Any]) -> str | None:
                role = status.get("partitions", {}).get(p, {}).get("role")
                return node if role in roles else None
            return seen

        if parts:
            v["candidate"] = await _first_seen(cluster, [successor],
                                               in_role("candidate", "leader"), LAG_ELECTION)
        if v["candidate"] is not None:
            await asyncio.sleep(LAG_SETTLE)
            v["rejected"] = {old: [successor], successor: [follower]}
            await net.reject([(old, successor), (successor, follower)])
            v["elected"] = await _first_seen(cluster, [successor], in_role("leader"),
                                             LAG_ELECTION)
            await asyncio.sleep(LAG_SETTLE)
        await net.cut(())
        return failed


def _range_owners(status: dict[str, Any], pick: float) -> list[str]:
    """The preference list (first ``n`` distinct nodes clockwise) of the ring range at
    position ``pick`` of a dynamo/lww node's status ``ring``."""
    ring = [node for _, node in status["ring"]]
    start = int(pick * len(ring))
    owners: list[str] = []
    for i in range(len(ring)):
        node = ring[(start + i) % len(ring)]
        if node not in owners:
            owners.append(node)
        if len(owners) == status["n"]:
            break
    return owners


KINDS: dict[str, type[Nemesis]] = {k.kind: k for k in (
    Partition, Kill, Crash, Pause, Clock, ClockRate, Latency, IsolateLeader, KillOwners, OneWay,
    Bridge, LeaderLatency, LeaderOneWay, LeaderClock, FlapOwners, StrandFollower, RejectLeader,
    LagSuccessor)}

STARTS: dict[str, str] = {"start-partition": "partition", "start-bridge": "bridge",
                          "start-one-way": "one-way", "kill": "kill", "start-crash": "crash",
                          "pause": "pause", "bump-clock": "clock", "strobe-clock": "clock",
                          "rate-clock": "clock-rate", "start-latency": "latency",
                          "start-isolate-leader": "isolate-leader",
                          "start-leader-clock": "leader-clock",
                          "start-leader-latency": "leader-latency",
                          "start-leader-one-way": "leader-one-way",
                          "start-kill-owners": "kill-owners",
                          "start-flap-owners": "flap-owners",
                          "start-strand-follower": "strand-follower",
                          "start-reject-leader": "reject-leader",
                          "start-lag-successor": "lag-successor"}
"""The kind of fault each start op's ``f`` begins (to read a fault schedule back from a
history; every kind's :meth:`Nemesis.plan` gives one of these)."""
