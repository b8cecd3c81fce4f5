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


def _cluster(bugs: tuple[str, ...] = ()) -> tuple[MemoryNetwork, dict[str, PaxosHost],
                        dict[str, list[tuple[float, str]]]]:
    """Three hosts of group 0, each on its own clock; every message each sends is logged as
    (sender's monotonic clock, message type)."""
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
            _send(dest, msg)

        env.transport.send = send  # type: ignore[method-assign]
        hosts[name] = PaxosHost(env, {0: NAMES}, lambda g: ListMachine(), TIMING)
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
    gaps = [b - a for a, b in zip(beats, beats[1:])]
    assert len(gaps) > 20, f"the leader {leader} sent only {len(beats)} heartbeats in 10 s"
    late = [g for g in gaps if not TIMING.heartbeat - 1e-9 <= g <= TIMING.heartbeat + 0.005]
    assert not late, (f"the leader {leader} (clock rate {rates[leader]}) heartbeats every "
                      f"{TIMING.heartbeat} s of its clock, but {len(late)} of {len(gaps)} "
                      f"gaps were off: {late[:5]}")


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
