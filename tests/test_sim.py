"""The simulator's parts (virtual-time loop, disk, network, clock, in-process client) and short
whole-seed runs, all in this process on virtual time."""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import json
import random
import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from splitbrain.cli import main
from splitbrain.db.config import local_config
from splitbrain.errors import BadInput
from splitbrain.harness.testrun import recheck
from splitbrain.sim import loop
from splitbrain.sim.clock import EPOCH, SimClock
from splitbrain.sim.cluster import SimClient, SimCluster
from splitbrain.sim.command import parse_faults, parse_seeds, store_run
from splitbrain.sim.network import RTO, LinkParams, SimNetwork
from splitbrain.sim.run import SimOptions, history_digest, judge, run_seed
from splitbrain.sim.shrink import ddmin
from splitbrain.sim.storage import SimDisk
from splitbrain.sim.world import draw

NAMES = ["n1", "n2", "n3"]


# -- the loop -------------------------------------------------------------------------------


@pytest.fixture(params=["compiled", "python"])
def core(request, monkeypatch):
    """Each loop test runs on the compiled core and on the Python methods it replaces."""
    if request.param == "compiled":
        assert loop._loop is not None, "the C loop core is not built: pip install -e . builds it"
    else:
        monkeypatch.setattr(loop, "_loop", None)
    return request.param


def test_virtual_time_jumps_to_the_next_timer_without_waiting(core):
    async def go():
        await asyncio.sleep(3600)
        async with asyncio.timeout(5):
            await asyncio.sleep(2)
        return asyncio.get_running_loop().time()

    began = time.perf_counter()
    assert loop.run(go()) == 3602.0
    assert time.perf_counter() - began < 1.0


def test_timers_due_at_the_same_time_run_in_the_order_they_were_scheduled(core):
    async def go():
        order: list[int] = []
        lp = asyncio.get_running_loop()
        for i in range(20):
            lp.call_at(1.0, order.append, i)
        await asyncio.sleep(2)
        return order

    assert loop.run(go()) == list(range(20))


def test_plain_calls_keep_the_order_of_timers_and_report_their_exceptions(core):
    def boom() -> None:
        raise ValueError("a bug in a node's handler")

    async def go():
        order: list[str] = []
        reported: list[BaseException] = []
        lp = asyncio.get_running_loop()
        lp.set_exception_handler(lambda _, context: reported.append(context["exception"]))
        for i in range(10):  # plain calls and timers at one instant run in scheduling order
            lp.call_at(1.0, order.append, f"timer {i}")
            lp.call_at_plain(1.0, order.append, f"plain {i}")
        lp.call_at_plain(0.5, boom)
        await asyncio.sleep(2)
        return order, reported

    order, reported = loop.run(go())
    assert order == [f"{kind} {i}" for i in range(10) for kind in ("timer", "plain")]
    assert [str(e) for e in reported] == ["a bug in a node's handler"]


def test_the_loops_sleep_wakes_as_asyncios_and_may_be_cancelled(core):
    async def go():
        lp = asyncio.get_running_loop()
        order: list[str] = []

        async def sleeper(name: str, nap) -> None:
            await nap(0.25)
            order.append(f"{name} {lp.time()}")

        await asyncio.gather(sleeper("asyncio", asyncio.sleep), sleeper("loop", loop.sleep),
                             sleeper("asyncio again", asyncio.sleep))
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.1):
                await loop.sleep(1.0)
        await asyncio.sleep(2)  # its wake-up comes and finds the sleeper gone
        return order

    assert loop.run(go()) == ["asyncio 0.25", "loop 0.25", "asyncio again 0.25"]


def test_cancelled_timers_are_swept_from_the_heap_and_never_run(core):
    async def go():
        lp = asyncio.get_running_loop()
        ran: list[int] = []
        most = 0
        for i in range(5000):  # as every op's asyncio.timeout: scheduled far ahead, cancelled
            lp.call_later(3600, ran.append, i).cancel()
            await asyncio.sleep(0.001)
            most = max(most, lp.timers())
        await asyncio.sleep(7200)
        return ran, most

    ran, most = loop.run(go())
    assert ran == []
    assert most < 300, f"{most} timers were in the heap at once: cancelled ones are not swept"


def test_a_run_never_builds_the_repr_of_its_result(core):
    class Costly:  # as a seed's history: its repr walks every event
        reprs = 0

        def __repr__(self) -> str:
            Costly.reprs += 1
            return "costly"

    async def go():
        await asyncio.sleep(1)
        return (Costly(),)

    loop.run(go())
    assert Costly.reprs == 0


def test_a_world_with_nothing_to_run_is_a_deadlock_not_a_hang(core):
    async def go():
        await asyncio.get_running_loop().create_future()

    with pytest.raises(loop.Deadlock, match="no callback is ready and no timer is pending"):
        loop.run(go())


def test_the_virtual_time_limit_stops_a_run_that_never_ends(core):
    async def go():
        while True:
            await asyncio.sleep(1)

    with pytest.raises(loop.TimeLimit, match="limit of 10 s"):
        loop.run(go(), limit=10)


def test_handles_cancel_report_their_time_and_run_in_their_context(core):
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="loop")

    async def go():
        lp = asyncio.get_running_loop()
        seen: list[tuple[str, str]] = []
        var.set("caller")
        soon = lp.call_soon(lambda: seen.append(("soon", var.get())))
        later = lp.call_later(0.5, lambda: seen.append(("later", var.get())))
        other = contextvars.Context()
        lp.call_at(0.25, lambda: seen.append(("at", var.get())), context=other)
        dropped = [lp.call_soon(seen.append, ("never", "")), lp.call_later(0.1, seen.append, 0)]
        for h in dropped:
            h.cancel()
        assert [h.cancelled() for h in (soon, *dropped)] == [False, True, True]
        assert later.when() == 0.5
        await asyncio.sleep(1)
        return seen

    assert loop.run(go()) == [("soon", "caller"), ("at", "loop"), ("later", "caller")]


def test_an_interrupt_in_a_callback_propagates_and_the_rest_stay_ready(core):
    lp = loop.VirtualLoop()
    ran: list[str] = []

    def interrupt() -> None:
        raise KeyboardInterrupt

    lp.call_soon(ran.append, "first")
    lp.call_soon(interrupt)
    lp.call_soon(ran.append, "second")
    with pytest.raises(KeyboardInterrupt):
        lp._run_once()
    lp.call_soon(ran.append, "third")
    lp._run_once()
    lp.close()
    assert ran == ["first", "second", "third"]
    with pytest.raises(RuntimeError, match="closed"):
        lp.call_soon(ran.append, "after")


def test_seeds_give_the_same_history_on_the_compiled_core_and_on_the_python_loop(monkeypatch):
    assert loop._loop is not None, "the C loop core is not built: pip install -e . builds it"
    opts = SimOptions(ops=150)
    compiled = [history_digest(run_seed(opts, seed).history) for seed in (1, 2, 3)]
    monkeypatch.setattr(loop, "_loop", None)
    assert [history_digest(run_seed(opts, seed).history) for seed in (1, 2, 3)] == compiled


# -- the disk -------------------------------------------------------------------------------


def test_a_crash_loses_exactly_what_was_not_synced():
    async def go():
        disk = SimDisk(sync_latency=0.01)
        s = disk.mount()
        s.put("t", "a", 1)
        await s.sync()
        s.put("t", "b", 2)
        s.delete("t", "a")
        assert dict(s.scan("t")) == {"b": 2}  # seen at once by its own readers
        disk.crash()
        return dict(disk.mount().scan("t"))

    assert loop.run(go()) == {"a": 1}


def test_a_sync_covers_the_changes_made_before_it_was_called_not_during_it():
    async def go():
        disk = SimDisk(sync_latency=0.01)
        s = disk.mount()
        s.put("t", "before", 1)
        syncing = asyncio.ensure_future(s.sync())
        await asyncio.sleep(0.005)
        s.put("t", "during", 2)
        await syncing
        disk.crash()
        return dict(disk.mount().scan("t"))

    assert loop.run(go()) == {"before": 1}


def test_a_crashed_incarnation_can_no_longer_make_anything_durable():
    async def go():
        disk = SimDisk(sync_latency=0.01)
        old = disk.mount()
        old.put("t", "k", "pending")
        syncing = asyncio.ensure_future(old.sync())
        disk.crash()  # mid-sync: the process is gone before the fsync returns
        await syncing
        old.put("t", "k", "zombie")
        await old.sync()
        return dict(disk.mount().scan("t")), disk.lost

    assert loop.run(go()) == ({}, 1)


def test_stored_values_come_back_as_msgpack_decodes_them():
    async def go():
        disk = SimDisk()
        s = disk.mount()
        value = {"v": (1, 2)}
        s.put("t", ("owner", "key"), value)
        value["v"] = "mutated after the put"
        await s.sync()
        disk.crash()
        return disk.mount().get("t", ("owner", "key"))

    assert loop.run(go()) == {"v": [1, 2]}


# -- the network ----------------------------------------------------------------------------


def _net(**link: float) -> SimNetwork:
    params = {(a, b): LinkParams(**link) for a in NAMES for b in NAMES if a != b}
    return SimNetwork(NAMES, random.Random(7), params)


async def _started(net: SimNetwork) -> dict[str, list]:
    inbox: dict[str, list] = {n: [] for n in NAMES}
    for n in NAMES:
        ep = net.endpoint(n)
        ep.set_handler(lambda src, msg, n=n: inbox[n].append((src, msg["i"])))
        await ep.start()
    return inbox


_WIRE_KEYS = (st.none() | st.booleans() | st.integers() | st.integers(-2**70, 2**70)
              | st.floats(allow_nan=False) | st.text(max_size=3) | st.binary(max_size=3))
_WIRE_SCALARS = _WIRE_KEYS | st.builds(bytearray, st.binary(max_size=2))


@settings(max_examples=200, deadline=None)
@given(st.recursive(_WIRE_SCALARS, lambda inner: (
    st.lists(inner, max_size=3) | st.lists(inner, max_size=3).map(tuple)
    | st.dictionaries(st.text(max_size=2), inner, max_size=3)
    | st.dictionaries(_WIRE_KEYS | st.tuples(st.integers()), inner, max_size=3)),
    max_leaves=12))
def test_a_message_crosses_the_network_as_a_msgpack_round_trip_gives_it_back(value):
    import msgpack

    from splitbrain.sim import network
    from splitbrain.sim.network import wire_copy

    assert network._wire is not None, "the C copy is not built: pip install -e . builds it"
    packed = msgpack.Packer(use_bin_type=True)
    try:
        expected = msgpack.unpackb(packed.pack(value), raw=False, strict_map_key=False)
    except Exception as e:  # msgpack refuses it: so must the network
        with pytest.raises(type(e)):
            wire_copy(value)
        return
    copied = wire_copy(value)
    assert repr(copied) == repr(expected)  # repr tells 1, 1.0 and True apart
    assert not _shares_mutable(value, copied)


def _shares_mutable(a, b) -> bool:
    if isinstance(a, (list, tuple, dict, bytearray)) and a is b:
        return True
    if isinstance(a, dict):
        return any(_shares_mutable(v, w) for v, w in zip(a.values(), b.values()))
    if isinstance(a, (list, tuple)):
        return any(_shares_mutable(v, w) for v, w in zip(a, b))
    return False


def test_a_one_way_cut_drops_one_direction_only():
    async def go():
        net = _net()
        inbox = await _started(net)
        await net.cut([("n1", "n2")])
        net.endpoint("n1").send("n2", {"i": 1})
        net.endpoint("n2").send("n1", {"i": 2})
        net.endpoint("n1").send("n3", {"i": 3})
        await asyncio.sleep(1)
        await net.heal()
        net.endpoint("n1").send("n2", {"i": 4})
        await asyncio.sleep(1)
        return inbox

    inbox = loop.run(go())
    assert inbox == {"n1": [("n2", 2)], "n2": [("n1", 4)], "n3": [("n1", 3)]}


def test_a_link_delivers_in_send_order_unless_it_reorders():
    async def go(reorder: float):
        net = _net(latency=0.001, jitter=0.01, reorder=reorder)
        inbox = await _started(net)
        for i in range(200):
            net.endpoint("n1").send("n2", {"i": i})
        await asyncio.sleep(1)
        return [i for _, i in inbox["n2"]]

    assert loop.run(go(0.0)) == list(range(200))
    reordered = loop.run(go(0.5))
    assert sorted(reordered) == list(range(200)) and reordered != list(range(200))


def test_loss_and_duplication_are_drawn_per_message():
    async def go(**link: float):
        net = _net(**link)
        inbox = await _started(net)
        for i in range(1000):
            net.endpoint("n1").send("n2", {"i": i})
        await asyncio.sleep(1)
        return [i for _, i in inbox["n2"]]

    doubled = loop.run(go(duplicate=0.2))
    assert set(doubled) == set(range(1000)) and 1100 < len(doubled) < 1300


def _arrivals(net: SimNetwork, count: int, seconds: float) -> list[tuple[int, float]]:
    """Send ``count`` messages n1 -> n2 on ``net`` at time 0: (number, arrival time) of each
    that arrived within ``seconds``, in arrival order."""
    async def go() -> list[tuple[int, float]]:
        arrived: list[tuple[int, float]] = []
        for n in NAMES:
            await net.endpoint(n).start()
        net.endpoint("n2").set_handler(
            lambda src, msg: arrived.append((msg["i"], asyncio.get_running_loop().time())))
        for i in range(count):
            net.endpoint("n1").send("n2", {"i": i})
        await asyncio.sleep(seconds)
        return arrived

    return loop.run(go())


def test_zero_draws_are_the_fault_free_fate_of_every_message():
    class Zeros(random.Random):  # what the shrinker's zeroed draws give the network
        def random(self) -> float:
            return 0.0

    params = {(a, b): LinkParams(latency=0.001, jitter=0.01, loss=0.5, duplicate=0.5,
                                 reorder=0.5) for a in NAMES for b in NAMES if a != b}
    # once each, in order, after the bare latency: no loss, duplicate, reordering or jitter
    assert _arrivals(SimNetwork(NAMES, Zeros(), params), 100, 10) == [(i, 0.001)
                                                                      for i in range(100)]


def test_a_lossy_live_link_delays_messages_as_tcp_retransmits_and_never_drops_one():
    def go(loss: float) -> list[tuple[int, float]]:
        return _arrivals(_net(latency=0.001, jitter=0.0, loss=loss), 1000, 60)

    lossy = go(0.2)
    assert [i for i, _ in lossy] == list(range(1000))  # every one, in order
    late = [t for _, t in lossy if t >= RTO]
    assert 150 < len(late) < 1000  # a loss holds up the messages behind it too
    assert go(1.0) == []  # TCP gives up: the connection fails


def test_the_nemesis_delay_and_loss_apply_to_the_named_links_until_healed():
    async def go():
        net = _net(latency=0.001, jitter=0.0)
        inbox = await _started(net)
        await net.delay([("n1", "n2")], 5.0)
        await net.loss([("n1", "n3")], 100)
        net.endpoint("n1").send("n2", {"i": 1})
        net.endpoint("n1").send("n3", {"i": 2})
        await asyncio.sleep(4.9)
        early = list(inbox["n2"])
        await asyncio.sleep(0.2)
        await net.heal()
        net.endpoint("n1").send("n3", {"i": 3})
        await asyncio.sleep(1)
        return early, inbox

    early, inbox = loop.run(go())
    assert early == [] and inbox["n2"] == [("n1", 1)] and inbox["n3"] == [("n1", 3)]


def test_a_message_in_flight_is_lost_when_its_receiver_restarts():
    async def go():
        net = _net(latency=0.5)
        inbox = await _started(net)
        net.endpoint("n1").send("n2", {"i": 1})
        await net.endpoint("n2").close()
        await net.endpoint("n2").start()
        net.endpoint("n1").send("n2", {"i": 2})
        await asyncio.sleep(2)
        return inbox["n2"]

    assert loop.run(go()) == [("n1", 2)]


def test_a_paused_node_is_silent_both_ways_until_it_resumes():
    async def go():
        net = _net(latency=0.001)
        inbox = await _started(net)
        net.endpoint("n2").pause()
        net.endpoint("n1").send("n2", {"i": 1})
        net.endpoint("n2").send("n3", {"i": 2})
        await asyncio.sleep(1)
        held = (list(inbox["n2"]), list(inbox["n3"]))
        net.endpoint("n2").resume()
        await asyncio.sleep(1)
        return held, inbox

    held, inbox = loop.run(go())
    assert held == ([], [])
    assert inbox["n2"] == [("n1", 1)] and inbox["n3"] == [("n2", 2)]


# -- the clock ------------------------------------------------------------------------------


def test_a_clock_drifts_and_is_skewed_by_its_offset():
    async def go():
        clock = SimClock(skew=0.5, drift=0.01)
        await asyncio.sleep(100)
        clock.offset = -2.0
        return clock.monotonic(), clock.wall()

    mono, wall = loop.run(go())
    assert mono == pytest.approx(101.0)
    assert wall == pytest.approx(EPOCH + 0.5 + 101.0 - 2.0)


# -- the cluster and its client ---------------------------------------------------------------


def _cluster(seed: int = 1) -> SimCluster:
    config = local_config("dynamodb", 5, "/sim", ports=list(range(1, 11)))
    world = draw(config.names, seed, [])
    return SimCluster(config, world.network(config.names, seed),
                      {n: world.disk_of(n) for n in config.names},
                      {n: world.clock_of(n) for n in config.names}, seed)


_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=3)


@settings(max_examples=150, deadline=None)
@given(st.recursive(_SCALARS, lambda inner: (
    st.lists(inner, max_size=3) | st.lists(inner, max_size=3).map(tuple)
    | st.dictionaries(st.text(max_size=2), inner, max_size=3)
    | st.dictionaries(_SCALARS, inner, max_size=3)), max_leaves=12))
def test_values_cross_the_in_process_client_as_they_would_cross_json(value):
    from splitbrain.sim.cluster import _json

    try:
        expected = json.dumps(json.loads(json.dumps(value)))
    except (TypeError, ValueError) as e:  # JSON refuses it: so must the client
        with pytest.raises(type(e)):
            _json(value)
        return
    copied = _json(value)
    assert json.dumps(copied) == expected
    assert not _has_tuple(copied)


def _has_tuple(value) -> bool:
    if isinstance(value, tuple):
        return True
    if isinstance(value, list):
        return any(map(_has_tuple, value))
    return isinstance(value, dict) and any(map(_has_tuple, value.values()))


def test_the_client_classifies_a_killed_node_and_a_paused_one_as_the_http_client_does():
    async def go():
        async with _cluster() as c:
            client = SimClient(c, c.client_url("n1"), timeout=1.0)
            await asyncio.sleep(3)  # leaders elected
            written = await client.put("k", [1, 2])
            read = await client.get("k", "strong")
            await c.pause("n1")
            paused_write = await client.put("k", 3)
            await c.resume("n1")
            await c.kill("n1")
            refused_read = await client.get("k")
            refused_write = await client.put("k", 4)
            return written, read, paused_write, refused_read, refused_write

    written, read, paused_write, refused_read, refused_write = loop.run(go())
    assert (written.type, written.value, read.type, read.value) == ("ok", [1, 2], "ok", [[1, 2]])
    assert (paused_write.type, paused_write.error) == ("info", "client-timeout")
    assert (refused_read.type, refused_read.error) == ("fail", "connection-refused")
    assert (refused_write.type, refused_write.error) == ("fail", "connection-refused")


def test_a_request_in_flight_to_a_killed_node_is_a_lost_connection():
    async def go():
        async with _cluster() as c:
            client = SimClient(c, c.client_url("n1"), timeout=5.0)
            await c.pause("n1")
            pending = asyncio.ensure_future(client.put("k", 1))
            await asyncio.sleep(0.1)
            await c.kill("n1")
            return await pending

    reply = loop.run(go())
    assert (reply.type, reply.error) == ("info", "connection-lost")


# -- whole seeds ------------------------------------------------------------------------------

SHORT = SimOptions(ops=80, nemesis="partition,kill,pause,clock")


def test_a_seed_is_judged_by_the_workloads_checkers_with_a_dense_history():
    out = run_seed(SHORT, 1)
    assert [e.index for e in out.history.events] == list(range(len(out.history.events)))
    assert {"linearizable", "reads", "availability"} <= set(out.result.details["results"])
    assert sum(e.type == "invoke" and e.process != "nemesis" and not (e.meta or {}).get("final")
               for e in out.history.events) == 80
    assert out.virtual_seconds > SHORT.ops / SHORT.rate


def test_the_same_seed_gives_the_same_history_and_another_seed_another():
    a, b, c = (history_digest(run_seed(SHORT, s).history) for s in (2, 2, 3))
    assert a == b != c


def test_a_stored_seed_is_a_run_directory_that_check_judges_alike(tmp_path):
    out = run_seed(SHORT, 1)
    run_dir = store_run(SHORT, out, str(tmp_path))
    test, result = recheck(run_dir)
    assert result.valid == out.result.valid
    assert test["command"] == "splitbrain sim --ops 80 --seeds 1..1 --no-shrink"
    assert (run_dir / "report.html").exists()


def test_sim_command_runs_seeds_and_exits_like_test(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["sim", "--seeds", "1..2", "--ops", "60", "--nemesis", "none", "--jobs", "1",
              "--store", str(tmp_path)])
    out = capsys.readouterr().out
    assert e.value.code == 0, out
    assert "seeds/min" in out and "speed-up" in out


@pytest.mark.parametrize("spec, seeds", [("3", range(1, 4)), ("5..7", range(5, 8)),
                                         (" 2 .. 2 ", range(2, 3))])
def test_seeds_are_a_count_or_an_inclusive_range(spec, seeds):
    assert parse_seeds(spec) == seeds


@pytest.mark.parametrize("spec, says", [("0", "at least 1"), ("9..3", "lower seed first"),
                                        ("a..b", "neither a count")])
def test_bad_seeds_are_refused_in_one_sentence(spec, says):
    with pytest.raises(BadInput, match=says):
        parse_seeds(spec)


# -- shrinking and replay ---------------------------------------------------------------------


def test_ddmin_finds_a_one_minimal_failing_subset():
    calls: list[list[int]] = []

    def fails(kept: list[int]) -> bool:
        calls.append(kept)
        return {3, 7} <= set(kept)

    assert ddmin(list(range(10)), fails) == [3, 7]
    assert calls[0] == []  # the empty schedule is tried first


def test_a_sieve_replays_only_the_kept_faults_and_records_only_them():
    opts = SimOptions(ops=150, nemesis="kill,pause")
    every = run_seed(opts, 6)
    started = [e for e in every.history.events
               if e.process == "nemesis" and e.type == "invoke" and e.f != "heal"]
    assert len(started) >= 4
    only_second = run_seed(dataclasses.replace(opts, faults=(1,)), 6)
    kept = [(e.f, e.value) for e in only_second.history.events
            if e.process == "nemesis" and e.type == "invoke" and e.f != "heal"]
    assert kept == [(e.f, e.value) for e in started[2:4]]


def test_faults_to_replay_are_a_list_of_fault_numbers():
    assert parse_faults(None) is None and parse_faults("") == () and parse_faults("2,0") == (0, 2)
    with pytest.raises(BadInput, match="comma-separated list of fault numbers"):
        parse_faults("first")


def test_seeds_are_judged_alike_with_or_without_the_pbs_prediction():
    from splitbrain.workloads import make

    out = run_seed(SimOptions(ops=150, lying_disks=True, nemesis="kill"), 1)
    workload = make("register", "dynamodb")
    full = judge(out.history, workload, out.config, predict=True)
    assert full.valid == out.result.valid is False
    assert full.anomalies == out.result.anomalies
    assert "pbs" in full.details["results"]["staleness"]["details"]
    assert "pbs" not in out.result.details["results"]["staleness"]["details"]


def test_sim_command_exits_1_and_prints_the_shrunk_failing_seed(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["sim", "--seeds", "1..1", "--ops", "120", "--nemesis", "kill", "--lying-disks",
              "--jobs", "1", "--store", str(tmp_path)])
    out = capsys.readouterr().out
    assert e.value.code == 1, out
    assert "seed 1: INVALID" in out and "seed 1 shrunk in" in out
    assert "replay: splitbrain sim --replay " in out and "faults (1):" in out
    assert re.search(r"random draws [\d,]+ -> \d+ non-trivial", out), out
    assert len(list(tmp_path.glob("sim-dynamodb-register-kill/*/report.html"))) == 2


def test_closing_an_endpoint_cancels_its_handlers_without_errors():
    errors: list[dict] = []

    async def go():
        asyncio.get_running_loop().set_exception_handler(lambda _, ctx: errors.append(ctx))
        net = _net(latency=0.001)
        await _started(net)

        async def slow(src, msg):
            await asyncio.sleep(10)

        net.endpoint("n2").set_handler(slow)
        net.endpoint("n1").send("n2", {"i": 1})
        await asyncio.sleep(1)
        await net.endpoint("n2").close()
        await asyncio.sleep(1)

    loop.run(go())
    assert errors == []
