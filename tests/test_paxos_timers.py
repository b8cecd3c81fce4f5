"""The timers of :class:`~splitbrain.db.paxos.PaxosHost` on virtual time: heartbeats leave at
their interval as the leader's clock counts it, also when that clock runs fast or slow, a
follower still takes over a lease after its leader went silent, and an idle node's ticks
follow its deadlines rather than a fixed short period."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from splitbrain.db import bugs as B
from splitbrain.db.env import MemoryNetwork, MemoryStorage, memory_env
from splitbrain.db.paxos import LEADER, PaxosHost, Timing
from splitbrain.sim import loop
from splitbrain.sim.clock import SimClock
from test_paxos import ListMachine

TIMING = Timing(lease=2.0, heartbeat=0.2)
NAMES = ["n1", "n2", "n3"]


def _cluster(bugs: tuple[str, ...] = (), groups: int = 1, wire: list | None = None
             ) -> tuple[MemoryNetwork, dict[str, PaxosHost], dict[str, list[tuple[float, str]]]]:
    """Three hosts of ``groups`` groups (0, 1...), all three in each, each host on its own
    clock; every message each sends is logged as (sender's monotonic clock, message type),
    and in ``wire`` as (sender, destination, virtual time, message)."""
    net = MemoryNetwork()
    hosts: dict[str, PaxosHost] = {}
    sent: dict[str, list[tuple[float, str]]] = {n: [] for n in NAMES}
    for i, name in enumerate(NAMES):
        clock = SimClock()
        env = memory_env(name, net, seed=i, storage=MemoryStorage(), config=SimpleNamespace(
            bugs=list(bugs)), clock=clock)  # type: ignore[arg-type]
        transport_send = env.transport.send

        def send(dest: str, msg: dict, _name: str = name, _clock: SimClock = clock,
                 _send: Any = transport_send) -> None:
            sent[_name].append((_clock.monotonic(), msg["t"]))
            if wire is not None:
                wire.append((_name, dest, asyncio.get_running_loop().time(), msg))
            _send(dest, msg)

        env.transport.send = send  # type: ignore[method-assign]
        hosts[name] = PaxosHost(env, {g: NAMES for g in range(groups)}, lambda g: ListMachine(),
                                TIMING)
    return net, hosts, sent


async def _start(hosts: dict[str, PaxosHost], rates: dict[str, float]) -> None:
    for name, h in hosts.items():
        h.env.clock.set_rate(rates[name])
        h.env.transport.set_handler(h.deliver)
        await h.env.transport.start()
        await h.start()


def _leader(hosts: dict[str, PaxosHost]) -> str | None:
    leaders = [n for n, h in hosts.items() if h.replicas[0].role == LEADER]
    return leaders[0] if len(leaders) == 1 else None


def test_heartbeats_leave_at_their_interval_on_fast_and_slow_clocks():
    rates = {"n1": 1.04, "n2": 0.96, "n3": 1.0}

    async def main() -> tuple[str | None, dict[str, list[tuple[float, str]]]]:
        _, hosts, sent = _cluster()
        await _start(hosts, rates)
        await asyncio.sleep(10)
        leader = _leader(hosts)
        for h in hosts.values():
            await h.stop()
        return leader, sent

    leader, sent = loop.run(main(), limit=60)
    assert leader is not None, "no single leader after 10 s with every link up"
    beats = [t for t, kind in sent[leader] if kind == "hb"][::2]  # one per peer
    period = TIMING.heartbeat
    assert len(beats) > 20, f"the leader {leader} sent only {len(beats)} heartbeats in 10 s"
    # The first leaves on election; every later one on the grid of periods of the leader's
    # clock (where all the groups a node leads beat together), at most 5 ms late.
    off = [t for t in beats[1:] if not -1e-9 <= t - round(t / period) * period <= 0.005]
    assert not off, (f"the leader {leader} (clock rate {rates[leader]}) heartbeats at "
                     f"multiples of {period} s of its clock, but {len(off)} of "
                     f"{len(beats) - 1} beats were off: {off[:5]}")
    gaps = [b - a for a, b in zip(beats, beats[1:])]
    assert period / 2 - 1e-9 <= gaps[0] <= 1.5 * period + 0.005, gaps[0]
    uneven = [g for g in gaps[1:] if not period - 0.005 <= g <= period + 0.005]
    assert not uneven, f"{len(uneven)} of {len(gaps) - 1} gaps were off: {uneven[:5]}"


def test_a_node_pair_exchanges_one_heartbeat_message_and_one_ack_per_period_for_all_groups():
    wire: list[tuple[str, str, float, dict]] = []

    async def main() -> dict[int, str]:
        _, hosts, _ = _cluster(groups=4, wire=wire)
        # at rate 1 every node's clock is the loop's: periods are comparable across nodes
        await _start(hosts, {n: 1.0 for n in NAMES})
        await asyncio.sleep(10)
        leaders = {g: n for n, h in hosts.items() for g, r in h.replicas.items()
                   if r.role == LEADER}
        for h in hosts.values():
            await h.stop()
        return leaders

    leaders = loop.run(main(), limit=60)
    assert sorted(leaders) == [0, 1, 2, 3], leaders
    period = TIMING.heartbeat
    carried: dict[tuple[str, str, str, int], list[int]] = {}  # (src, dest, kind, period): groups
    for src, dest, at, msg in wire:
        if at < 5 or src == dest:
            continue
        for m in msg["m"] if msg["t"] == "batch" else [msg]:
            if m["t"] in ("hb", "hb_ack"):
                carried.setdefault((src, dest, m["t"], round(at / period)), []).append(m["g"])
    messages = {}  # the same, counting wire messages rather than the heartbeats they carry
    for src, dest, at, msg in wire:
        kinds = {m["t"] for m in (msg["m"] if msg["t"] == "batch" else [msg])}
        for kind in kinds & {"hb", "hb_ack"}:
            if at >= 5 and src != dest:
                key = (src, dest, kind, round(at / period))
                messages[key] = messages.get(key, 0) + 1
    assert carried and set(messages.values()) == {1}, messages
    for (src, dest, kind, _), groups in carried.items():
        led = sorted(g for g, n in leaders.items() if n == (src if kind == "hb" else dest))
        assert sorted(groups) == led, (src, dest, kind, groups, led)


def test_a_follower_takes_over_a_lease_after_its_leader_went_silent():
    rates = {"n1": 1.04, "n2": 0.96, "n3": 1.03}

    async def main() -> tuple[str | None, str | None, float, float]:
        net, hosts, _ = _cluster()
        await _start(hosts, rates)
        await asyncio.sleep(5)
        old = _leader(hosts)
        assert old is not None
        net.isolate(old)
        cut_at = asyncio.get_running_loop().time()
        others = {n: h for n, h in hosts.items() if n != old}
        while _leader(others) is None and asyncio.get_running_loop().time() < cut_at + 30:
            await asyncio.sleep(0.01)
        took = asyncio.get_running_loop().time() - cut_at
        new = _leader(others)
        for h in hosts.values():
            await h.stop()
        return old, new, took, cut_at

    old, new, took, _ = loop.run(main(), limit=120)
    assert new is not None and new != old, "no new leader within 30 s of isolating the old one"
    # No earlier than the old lease could have run out, and within a few heartbeats of it.
    assert TIMING.lease * 0.9 <= took <= TIMING.lease + 12 * TIMING.heartbeat, took


def test_an_idle_cluster_ticks_at_its_deadlines_not_at_a_fixed_period():
    rates = {n: 1.0 for n in NAMES}
    ticks = {n: 0 for n in NAMES}

    async def main() -> None:
        _, hosts, _ = _cluster()
        for name, h in hosts.items():
            def counted(_tick=h._tick, _name=name) -> None:
                ticks[_name] += 1
                _tick()
            h._tick = counted  # type: ignore[method-assign]
        await _start(hosts, rates)
        await asyncio.sleep(3)  # an election, then steady heartbeats
        for n in NAMES:
            ticks[n] = 0
        await asyncio.sleep(10)
        for h in hosts.values():
            await h.stop()

    loop.run(main(), limit=60)
    # The leader wakes per heartbeat (50 in 10 s), its followers at least per quarter lease
    # (20): a fixed 50 ms period would be 200 each.
    assert max(ticks.values()) <= 60 and sum(ticks.values()) <= 120, ticks


def test_with_the_wall_clock_lease_bug_a_clock_jump_is_noticed_within_50_ms():
    """The planted bug's timers read the wall clock, which jumps: no deadline foresees that,
    so the shell polls every 50 ms as it always did, and the bug shows as it did."""
    rates = {n: 1.0 for n in NAMES}

    async def main() -> float:
        _, hosts, sent = _cluster(bugs=(B.LEASE_ON_WALL_CLOCK,))
        await _start(hosts, rates)
        await asyncio.sleep(5)
        leader = _leader(hosts)
        assert leader is not None
        before = len(sent[leader])
        while len(sent[leader]) == before:  # until just after a heartbeat
            await asyncio.sleep(0.001)
        await asyncio.sleep(0.01)  # the next is due in ~0.19 s
        before = len(sent[leader])
        hosts[leader].env.clock.offset += 1.0  # the wall clock jumps a second ahead
        jumped = asyncio.get_running_loop().time()
        while len(sent[leader]) == before:
            await asyncio.sleep(0.001)
        took = asyncio.get_running_loop().time() - jumped
        for h in hosts.values():
            await h.stop()
        return took

    took = loop.run(main(), limit=60)
    assert took <= 0.05 + 1e-9, f"the leader heartbeat {took:.3f} s after its wall clock jumped"
