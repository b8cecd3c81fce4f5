"""The schedule's rounds and overlap, and the clock-rate and latency faults, against the
in-memory fake cluster of test_nemesis; the rate itself against the node's OS clock."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Iterable

import pytest

from splitbrain.db.runtime import OsClock
from splitbrain.harness.net import Link
from splitbrain.nemesis import ClockRate, Latency, combined
from test_nemesis import FakeCluster, FakeNet


class DelayNet(FakeNet):
    def __init__(self) -> None:
        self.delays: dict[Link, float] = {}

    async def delay(self, links: Iterable[Link], seconds: float) -> None:
        for link in links:
            self.delays[link] = seconds


class RateCluster(FakeCluster):
    def __init__(self, n: int = 5):
        super().__init__(n)
        self.net = DelayNet()
        self.rates: dict[str, float] = {}

    async def set_clock_rate(self, name: str, rate: float) -> None:
        self.rates[name] = rate


def _starts(kinds: str, periods: int, *, overlap: bool = False, seed: int = 1) -> list[list[str]]:
    """The start ops of each period of a schedule of ``kinds`` run for ``periods`` periods."""
    async def scenario() -> list[tuple[str, str, object]]:
        c, events = RateCluster(), []
        schedule = combined(kinds, 0.01, overlap=overlap)
        await schedule.run(c, random.Random(seed), lambda t, f, v: events.append((t, f, v)),
                           0.02 * periods + 0.005)
        await schedule.heal(c, lambda t, f, v: None)
        assert not c.net.cuts and not c.down and not c.paused
        assert all(r == 1.0 for r in c.rates.values())
        assert all(d == 0.0 for d in c.net.delays.values())
        return events

    periods_ops: list[list[str]] = []
    starting = True
    for t, f, _ in asyncio.run(scenario()):
        if t != "invoke":
            continue
        is_start = f in STARTS
        if is_start and (not periods_ops or not starting):
            periods_ops.append([])
        if is_start:
            periods_ops[-1].append(STARTS[f])
        starting = is_start
    return periods_ops


STARTS = {"start-partition": "partition", "kill": "kill", "pause": "pause",
          "bump-clock": "clock", "strobe-clock": "clock", "rate-clock": "clock-rate",
          "start-latency": "latency"}
KINDS = "partition,kill,pause,clock,clock-rate,latency"


@pytest.mark.parametrize("seed", range(5))
def test_every_round_covers_every_kind_once(seed):
    periods = _starts(KINDS, 12, seed=seed)
    assert len(periods) >= 10 and all(len(p) == 1 for p in periods)
    kinds = [p[0] for p in periods]
    assert sorted(kinds[:6]) == sorted(KINDS.split(","))
    assert len(set(kinds[6:])) == len(kinds[6:])  # the second round repeats no kind


@pytest.mark.parametrize("seed", range(5))
def test_overlap_starts_two_different_kinds_each_period_and_heals_them(seed):
    periods = _starts("partition,clock,latency", 8, overlap=True, seed=seed)
    assert len(periods) >= 6
    assert all(len(p) == 2 and p[0] != p[1] for p in periods)


def test_clock_rate_sets_factors_within_the_drift_bound_and_resets_them():
    async def scenario() -> None:
        c, rng = RateCluster(), random.Random(3)
        nemesis = ClockRate()
        op = await nemesis.start(c, rng)
        assert op["f"] == "rate-clock" and c.rates == op["value"]["rates"]
        assert all(0.96 <= r <= 1.04 and r != 1.0 for r in c.rates.values())
        stop = await nemesis.stop(c)
        assert stop["f"] == "reset-rate" and all(r == 1.0 for r in c.rates.values())

    asyncio.run(scenario())


def test_latency_delays_the_links_into_its_targets_and_removes_the_delay():
    async def scenario() -> None:
        c = RateCluster()
        nemesis = Latency()
        op = await nemesis.start(c, random.Random(4))
        slow = {b for _, b in op["value"]["links"]}
        assert 1 <= len(slow) <= 2 and 0.05 <= op["value"]["seconds"] <= 1.0
        assert set(c.net.delays) == {(a, b) for b in slow for a in c.names if a != b}
        await nemesis.stop(c)
        assert set(c.net.delays.values()) == {0.0}

    asyncio.run(scenario())


def test_the_os_clock_rate_scales_monotonic_time_without_a_jump():
    clock = OsClock()
    before = clock.monotonic()
    clock.set_rate(2.0)
    assert clock.monotonic() - before < 0.01  # continuous where the rate changed
    t0, m0 = time.monotonic(), clock.monotonic()
    time.sleep(0.05)
    assert (clock.monotonic() - m0) / (time.monotonic() - t0) == pytest.approx(2.0, rel=0.05)
    assert clock.wall() == pytest.approx(time.time(), abs=0.01)  # the wall clock is untouched


def test_the_new_fault_ops_name_their_kind_for_availability_and_the_report():
    from splitbrain.checkers.availability import fault_kind

    assert fault_kind("rate-clock") == ("start", "clock-rate")
    assert fault_kind("reset-rate") == ("stop", "clock-rate")
    assert fault_kind("start-latency") == ("start", "latency")
    assert fault_kind("stop-latency") == ("stop", "latency")
