"""One seed, start to verdict: draw the world, start five nodes on it, run the workload and
the nemesis through the harness's own :class:`~splitbrain.harness.runner.Runner` on a
:class:`~splitbrain.sim.loop.VirtualLoop`, and judge the history with the workload's checkers
and the mode's verdict policy, exactly as ``splitbrain test`` does.

A seed's history is a function of the options and the seed alone (:func:`history_digest`
fingerprints it).

One difference from ``test``, for speed: a seed is judged without the staleness checker's PBS
prediction (a Monte Carlo printed beside the measured staleness; it never changes a verdict
and is nearly all of a seed's checking time). :func:`judge` with ``predict=True``, which
stored runs get, includes it.
"""

from __future__ import annotations

import hashlib
import dataclasses
import json
import time
from dataclasses import asdict, dataclass
from typing import Any, Iterable

from splitbrain.checkers import policy, staleness
from splitbrain.checkers.result import Result
from splitbrain.db.bugs import Bug
from splitbrain.db.config import local_config
from splitbrain.harness.interfaces import FaultSchedule, RandomSource, seeded
from splitbrain.harness.runner import Runner, check
from splitbrain.history import History
from splitbrain.nemesis import combined, parse_kinds
from splitbrain.nemesis.schedule import Played
from splitbrain.replay import OPTIONAL, OPTIONS, Replay
from splitbrain.sim import loop
from splitbrain.sim.cluster import SimClient, SimCluster
from splitbrain.sim.draws import Player
from splitbrain.sim.sieve import Sieve
from splitbrain.sim.world import World, draw
from splitbrain.workloads import checks, make
from splitbrain.workloads.base import Workload
from splitbrain.workloads.replay import Replayed

#: Virtual seconds after which a seed is abandoned as hung (far beyond any sane run).
VIRTUAL_LIMIT = 3600.0

#: Client ops per seed of a planted bug's run at the default rate (``sim --bug``, ``calibrate
#: --sim``): 10 virtual seconds, room for the long faults the lease bugs need (4-8 s,
#: :data:`splitbrain.sim.world.LONG_FAULT`), where ``sim``'s 300 ops (3 s) caught none.
BUG_OPS = 1000
#: Fault intervals a planted bug's seed spans at least (one fault, its heal, the next fault),
#: when its catalogue run sets a pace slower than :data:`BUG_OPS` leaves room for.
BUG_INTERVALS = 3


@dataclass
class SimOptions:
    """The options every seed of a ``splitbrain sim`` shares."""

    mode: str = "dynamodb"
    workload: str = "register"
    nemesis: str = "partition,kill,pause,clock"
    ops: int = 300
    nodes: int = 5
    concurrency: int = 10
    rate: float = 100.0
    recovery: float = 5.0  # as splitbrain test: healing to final reads
    op_timeout: float = 2.0
    faults: tuple[int, ...] | None = None
    """Only these faults of the seed's schedule (by ordinal; :mod:`.sieve`); None: all."""
    lying_disks: bool = False
    """Disks acknowledge fsyncs without persisting (:class:`.storage.SimDisk`)."""
    bug: tuple[str, ...] = ()
    """Planted bugs of :mod:`splitbrain.db.bugs`, in the node config's ``bugs`` as with
    ``splitbrain test --bug``."""
    expect: tuple[str, ...] = ()
    """Properties the verdict also requires, as ``splitbrain test --expect``."""
    nemesis_interval: float | None = None
    """Seconds between faults (and each fault's length); None: each seed's world draws both."""
    keys: int | None = None
    """The workload's keys, as ``splitbrain test --keys``; None: the workload's default."""
    request_timeout_ms: int | None = None
    """The node's request budget, as ``splitbrain test --request-timeout-ms``; None: the
    node's default."""

    def describe(self) -> dict[str, Any]:
        return asdict(self)

    def replay_options(self) -> dict[str, Any]:
        """What a replay file records of these options (:data:`splitbrain.replay.OPTIONS`, and
        :data:`~splitbrain.replay.OPTIONAL` ones that are set)."""
        fields = {"bugs" if k == "bug" else k: v for k, v in asdict(self).items()}
        return {k: list(v) if isinstance(v, tuple) else v for k, v in fields.items()
                if k in OPTIONS or (k in OPTIONAL and v is not None)}

    @classmethod
    def of_bug(cls, entry: Bug, ops: int | None = None,
               nemesis_interval: float | None = None) -> "SimOptions":
        """What ``splitbrain sim --bug NAME`` and ``splitbrain calibrate --sim`` run for the
        planted bug ``entry``: its catalogue run (:attr:`~splitbrain.db.bugs.Bug.run`,
        ``splitbrain test`` options, whose names these fields share) with the bug planted;
        faults every ``nemesis_interval`` seconds unless the run sets its own pace (None: the
        world draws it); ``ops`` client ops (default: :data:`BUG_OPS`) at the default rate,
        scaled by the run's rate, so that a seed lasts as long in virtual time whatever its
        rate; and, without ``ops``, long enough for :data:`BUG_INTERVALS` of a pace the run
        sets (indefinite-as-definite's 5 s: two faults in 15 s, where 10 s held one).
        ValueError naming an option of the run the simulator has no field for."""
        names = {f.name for f in dataclasses.fields(cls)}
        for k in entry.run:
            if k not in names:
                raise ValueError(f"the catalogue run option {k!r} of {entry.name} has no "
                                 f"splitbrain sim counterpart; give SimOptions a field for it")
        run = {k: tuple(v) if k == "expect" else v for k, v in entry.run.items()}
        pace = {} if nemesis_interval is None else {"nemesis_interval": nemesis_interval}
        rate = run.get("rate", cls.rate)
        seconds = (ops if ops is not None else BUG_OPS) / cls.rate
        if ops is None and run.get("nemesis_interval"):
            seconds = max(seconds, BUG_INTERVALS * run["nemesis_interval"])
        scaled = round(seconds * rate)
        return cls(**{**pace, **run}, ops=max(1, scaled), bug=(entry.name,))

    @classmethod
    def of_replay(cls, replay: Replay) -> "SimOptions":
        """The options that play ``replay`` on the world its seed drew."""
        o = replay.options
        return cls(mode=o["mode"], workload=o["workload"], nemesis=o["nemesis"],
                   nodes=o["nodes"], concurrency=o["concurrency"], recovery=o["recovery"],
                   op_timeout=o["op_timeout"], bug=tuple(o["bugs"]),
                   lying_disks=o["lying_disks"],
                   request_timeout_ms=o.get("request_timeout_ms"))


@dataclass
class SeedOutcome:
    """What one seed gave: its history, verdict, world, how long it took in virtual time and
    the CPU seconds spent simulating and checking it (measured, never part of the history)."""

    seed: int
    history: History
    result: Result
    world: World
    config: dict[str, Any]
    virtual_seconds: float
    cpu_simulate: float = 0.0
    cpu_check: float = 0.0


def run_seed(opts: SimOptions, seed: int, replay: Replay | None = None,
             source: RandomSource | None = None) -> SeedOutcome:
    """Simulate seed ``seed`` (see the module docstring); with ``replay``, its world plays the
    replay's faults and ops instead of drawing them (and ``opts.faults`` and ``ops`` are
    unused), and its random draws when it carries them. ``source``, when given, gives every
    generator of the run instead (:mod:`splitbrain.sim.draws`: the shrinker records and
    edits them)."""
    if source is None:
        source = Player(replay.draws) if replay is not None and replay.draws is not None \
            else seeded
    budget = {} if opts.request_timeout_ms is None else {
        "request_timeout_ms": opts.request_timeout_ms}
    config = local_config(opts.mode, opts.nodes, "/sim", ports=list(range(1, 2 * opts.nodes + 1)),
                          bugs=list(opts.bug), **budget)
    world = draw(config.names, seed, parse_kinds(opts.nemesis), source)
    cluster = SimCluster(config, world.network(config.names, seed, source),
                         {n: world.disk_of(n, lies=opts.lying_disks) for n in config.names},
                         {n: world.clock_of(n) for n in config.names}, seed, source=source)
    workload = make(opts.workload, opts.mode, keys=opts.keys)
    if opts.nemesis_interval is None:
        schedule = combined(world.nemesis, world.nemesis_interval, length=world.fault_seconds)
    else:
        schedule = combined(world.nemesis, opts.nemesis_interval)
    nemesis: FaultSchedule | None = None
    if schedule.nemeses:
        nemesis = schedule if opts.faults is None else Sieve(schedule, opts.faults)
    pace: dict[str, Any] = {"rate": opts.rate, "time_limit": opts.ops / opts.rate,
                            "ops": opts.ops}
    if replay is not None:
        workload = Replayed(workload, replay.ops, replay.final_reads, opts.concurrency)
        nemesis = Played(replay.faults)
        pace = {"rate": None, "time_limit": replay.end(), "ops": None}
    runner = Runner(workload, cluster, None, concurrency=opts.concurrency,
                    recovery=opts.recovery, op_timeout=opts.op_timeout, seed=seed,
                    nemesis=nemesis, random_source=source,
                    client_factory=lambda url, timeout: SimClient(cluster, url, timeout),
                    **pace)

    async def main() -> tuple[History, float]:
        import asyncio

        history = await runner.run()
        return history, asyncio.get_running_loop().time()

    began = time.process_time()
    history, virtual = loop.run(main(), limit=VIRTUAL_LIMIT)
    simulated = time.process_time()
    params = config.to_dict()
    result = judge(history, workload, params, predict=False, expect=opts.expect)
    return SeedOutcome(seed, history, result, world, params, virtual,
                       cpu_simulate=simulated - began, cpu_check=time.process_time() - simulated)


def judge(history: History, workload: Workload, params: dict[str, Any], *, predict: bool,
          expect: Iterable[str] = ()) -> Result:
    """The verdict ``splitbrain test --expect ...`` gives ``history``; with ``predict`` False,
    without the staleness checker's PBS prediction (see the module docstring)."""
    if predict:
        return check(history, workload, expect=expect, params=params)
    checkers = checks.with_expectations(workload.checkers(params), workload.name, workload.mode,
                                        expect)
    if staleness.NAME in checkers:
        checkers[staleness.NAME] = staleness.check  # no n, r, w: measured, not predicted
    return policy.verdict(workload.mode, policy.run(checkers, history), expect,
                          workload=workload.name)


def history_digest(history: History) -> str:
    """A SHA-256 of the history's events as JSON lines (key order fixed)."""
    encode = json.JSONEncoder(sort_keys=True).encode  # json.dumps(..., sort_keys=True), made once
    lines = [encode({**ev.to_dict(), "index": i}) for i, ev in enumerate(history.events)]
    return hashlib.sha256("".join(line + "\n" for line in lines).encode()).hexdigest()
