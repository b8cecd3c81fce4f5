"""The run loop against an in-memory cluster: phases, the recorder, the process rule, timeouts,
final reads, cleanup on failure and on cancellation."""

from __future__ import annotations

import asyncio
import functools
import random
from collections import Counter

import pytest

from fake_cluster import FakeClient, FakeCluster, FakeNemesis, FakeStore
from splitbrain import errors
from splitbrain.harness.runner import Runner, check
from splitbrain.history import NEMESIS, read_jsonl
from splitbrain.workloads import make


def runner(tmp_path, *, mode="dynamodb", workload="register", nodes=3, nemesis=None,
           op_timeout=2.0, **client_opts) -> tuple[Runner, FakeCluster, FakeStore]:
    """A 0.6-s run against the fake cluster. The fake answers at once unless told to hang, so
    ``op_timeout`` is generous: an event-loop stall on a loaded machine must not turn ops into
    timeouts."""
    cluster, store = FakeCluster(nodes), FakeStore(mode)
    rng = random.Random(9)
    factory = functools.partial(FakeClient, store, rng=rng, **client_opts)
    r = Runner(make(workload, mode), cluster.running(), tmp_path / "history.jsonl",
               concurrency=4, rate=400, time_limit=0.6, recovery=0.0, op_timeout=op_timeout,
               healthy_timeout=0.3, seed=3, nemesis=nemesis, client_factory=factory)
    return r, cluster, store


def test_a_run_records_a_valid_history_with_final_reads_on_every_node(tmp_path):
    r, cluster, store = runner(tmp_path, nemesis=FakeNemesis(0.15))
    history = asyncio.run(r.run())
    assert cluster.stopped
    on_disk = read_jsonl(tmp_path / "history.jsonl")   # validates pairing, order, times
    assert [e.to_dict() for e in on_disk] == [e.to_dict() for e in history]
    ops = history.ops()
    main = [op for op in ops if not (op.meta or {}).get("final")]
    final = [op for op in ops if (op.meta or {}).get("final")]
    assert 30 < len(main) < 400             # about 400 ops/s for 0.6 s, fewer under load
    assert {op.f for op in main} == {"read", "write", "cas"}
    assert {op.consistency for op in main if op.f == "read"} == {"strong", "eventual"}
    # Each node reads every key the workload used, pinned to that node.
    keys = {op.key for op in main}
    assert {(op.node, op.key) for op in final} == {(n, k) for n in cluster.names for k in keys}
    assert all(op.type == "ok" for op in final)
    # The nemesis' ops are in the history and the last one healed.
    nem = [e for e in history if e.process == NEMESIS]
    assert nem and nem[-1].f == "stop-partition"
    times = [e.time for e in history]
    assert times == sorted(times)


def test_the_process_rule_retires_a_process_after_info(tmp_path):
    r, _, _ = runner(tmp_path, indefinite=0.3)
    history = asyncio.run(r.run())
    ops = [op for op in history.ops() if not (op.meta or {}).get("final")]
    infos = sum(op.type == "info" for op in ops)
    assert infos > 5
    for t in range(4):
        t_ops = [op for op in ops if op.process % 4 == t]
        assert t_ops[0].process == t
        for prev, nxt in zip(t_ops, t_ops[1:]):
            assert nxt.process == (prev.process + 4 if prev.type == "info" else prev.process)


def test_ops_that_hang_are_recorded_info_or_fail_for_reads(tmp_path):
    r, _, _ = runner(tmp_path, hang=0.3, op_timeout=0.1)
    history = asyncio.run(r.run())
    timed_out = [op for op in history.ops() if op.error == "timeout"]
    assert timed_out
    kinds = Counter((op.f == "read", op.type) for op in timed_out)
    assert set(kinds) <= {(True, "fail"), (False, "info")}
    assert kinds[(True, "fail")] and kinds[(False, "info")]


def test_a_cluster_that_never_gets_healthy_is_a_tester_failure_and_is_stopped(tmp_path):
    r, cluster, _ = runner(tmp_path, healthy=False)
    with pytest.raises(errors.TesterFailure, match="did not become healthy"):
        asyncio.run(r.run())
    assert cluster.stopped


def test_a_cluster_dead_after_healing_is_a_tester_failure(tmp_path):
    r, cluster, store = runner(tmp_path)

    class Killer(FakeNemesis):
        async def heal(self, cluster, record) -> None:
            store.dead = True

    r.nemesis = Killer()
    with pytest.raises(errors.TesterFailure, match="no node answered a final read"):
        asyncio.run(r.run())
    assert cluster.stopped
    assert len(read_jsonl(tmp_path / "history.jsonl")) > 20


def history_has(path, lines: int) -> bool:
    """Whether the history file at ``path`` holds at least ``lines`` complete lines."""
    try:
        return path.read_bytes().count(b"\n") >= lines
    except FileNotFoundError:
        return False


def test_cancelling_a_run_stops_the_cluster_and_keeps_a_loadable_partial_history(tmp_path):
    r, cluster, _ = runner(tmp_path)
    r.time_limit = 30

    async def main():
        task = asyncio.create_task(r.run())
        deadline = asyncio.get_running_loop().time() + 30
        while not history_has(tmp_path / "history.jsonl", 21):  # the run is under way
            assert not task.done() and asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert cluster.stopped
    history = read_jsonl(tmp_path / "history.jsonl")
    assert len(history) > 20


def test_check_judges_by_the_modes_policy(tmp_path):
    r, _, _ = runner(tmp_path)
    history = asyncio.run(r.run())
    verdict = check(history, make("register", "dynamodb"))
    results = verdict.details["results"]
    assert {"linearizable", "reads", "availability"} <= set(results)
    assert verdict.valid is True and results["linearizable"]["valid"] is True
    # A strong read of a value nobody wrote: the linearizability guarantee is broken.
    read = next(e for e in history if e.type == "ok" and e.f == "read"
                and e.consistency == "strong")
    read.value = 10**6
    verdict = check(history, make("register", "dynamodb"))
    assert verdict.valid is False and "linearizable" in verdict.reason


def test_the_live_display_is_quiet_off_a_terminal_and_shows_the_run_on_one(capsys):
    from rich.console import Console

    from splitbrain.harness.display import Display, Stats

    stats = Stats()
    stats.phase = "workload"
    stats.outcomes.update({"ok": 7, "info": 2})
    stats.nemesis = FakeNemesis()
    stats.nemesis.active = [{"f": "start-partition", "value": {"isolated": ["n2"]}}]
    with Display(stats, title="t") as d:      # pytest's stdout is not a terminal
        assert not d.enabled
    assert capsys.readouterr().out == ""
    console = Console(record=True, width=100)
    console.print(Display(stats, title="t", enabled=True)._render())
    text = console.export_text()
    assert "workload" in text and "ok 7" in text and "info 2" in text
    assert "start-partition" in text and "n2" in text


def test_a_thread_told_to_wait_asks_again_once_the_wait_is_over():
    """A wait ending between two nanoseconds of the history's clock: the thread asks again as
    of the wait's end, instead of waking over and over until the rounded clock passes it."""
    from splitbrain.harness import generators as gen
    from splitbrain.harness.runner import Recorder, Worker
    from splitbrain.sim import loop

    class Counted(gen.Generator):
        def __init__(self, inner: gen.Generator):
            self.inner, self.asks = inner, 0

        def next(self, ctx: gen.Context) -> gen.Answer:
            self.asks += 1
            return self.inner.next(ctx)

    g = Counted(gen.sleep(0.2000000000123))
    r = Runner(make("register", "dynamodb"), None, None, seed=1)

    async def go() -> float:
        r.recorder = Recorder(None)
        await r._work(Worker(0, "n1", 0, 1), g, r._waits(g, frozenset({0})))
        return asyncio.get_running_loop().time()

    ended = loop.run(go())
    assert 0.2 < ended < 0.2 + 1e-5
    assert g.asks <= 3, f"the thread asked {g.asks} times to wait 0.2 s"
