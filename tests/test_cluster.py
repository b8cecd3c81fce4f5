"""Local cluster control against stand-in node processes (tests/standin_node.py): start, kill,
restart, pause, resume, clock, logs, start failures, and cleanup on normal exit, exception,
Ctrl-C and SIGKILL of the tester."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from splitbrain import errors
from splitbrain.harness import registry
from splitbrain.harness.cluster import NodeUnreachable, local_cluster
from splitbrain.harness.process import spawn, start_time

pytestmark = pytest.mark.integration  # every test starts a process

STANDIN = [sys.executable, str(Path(__file__).with_name("standin_node.py"))]


def alive(pid: int) -> bool:
    return start_time(pid) is not None


def wait_until(pred, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


def test_lifecycle_kill_restart_pause_resume_clock_logs(tmp_path):
    async def scenario():
        cluster = local_cluster("dynamo", 3, tmp_path / "c", command=STANDIN)
        async with cluster:
            assert cluster.names == ["n1", "n2", "n3"] and cluster.net.kind == "proxy"
            pids = {n: cluster.procs[n].pid for n in cluster.names}
            assert all(alive(p) for p in pids.values())
            assert (await cluster.admin_status("n1"))["name"] == "n1"

            await cluster.kill("n2")
            assert not await cluster.is_running("n2") and not alive(pids["n2"])
            await cluster.kill("n2")  # killing a dead node does nothing
            await cluster.restart("n2")
            assert await cluster.is_running("n2") and cluster.procs["n2"].pid != pids["n2"]
            assert (await cluster.admin_status("n2"))["name"] == "n2"

            await cluster.pause("n3")
            with pytest.raises(NodeUnreachable):
                await cluster.admin_status("n3")
            assert await cluster.is_running("n3")
            await cluster.resume("n3")
            assert (await cluster.admin_status("n3"))["name"] == "n3"

            await cluster.set_clock_offset("n1", -12.5)
            assert (await cluster.admin_status("n1"))["clock_offset"] == -12.5
            with pytest.raises(ValueError, match="no node named 'n9'"):
                cluster.client_url("n9")
            all_pids = [p.pid for p in cluster.procs.values()]
            proxy_pid = cluster.net.proc.pid
        assert not any(alive(p) for p in [*all_pids, proxy_pid])
        assert registry.read_state(cluster.root) is None
        await cluster.collect_logs(tmp_path / "run")
        logs = sorted(p.name for p in (tmp_path / "run" / "nodes").iterdir())
        assert logs == ["n1.log", "n2.log", "n3.log", "proxy.log"]
        await cluster.stop()  # idempotent

    asyncio.run(scenario())


def test_a_node_that_will_not_start_is_named_with_its_log_and_nothing_is_left(tmp_path):
    async def scenario():
        cluster = local_cluster("lww", 2, tmp_path / "c", command=[*STANDIN, "--fail"])
        with pytest.raises(errors.TesterFailure) as err:
            await cluster.start()
        msg = str(err.value)
        assert "exited with code 1 before it became healthy" in msg
        assert str(tmp_path / "c" / "logs") in msg and "asked to fail" in msg
        assert not any(p.alive() for p in cluster.procs.values())
        assert cluster.net.proc is None and registry.read_state(cluster.root) is None

    asyncio.run(scenario())


def test_exception_inside_the_cluster_block_cleans_up(tmp_path):
    async def scenario():
        cluster = local_cluster("dynamo", 2, tmp_path / "c", command=STANDIN)
        with pytest.raises(RuntimeError):
            async with cluster:
                pids = [p.pid for p in cluster.procs.values()]
                raise RuntimeError("boom")
        assert not any(alive(p) for p in pids)

    asyncio.run(scenario())


TESTER = """
import asyncio, json, sys
from pathlib import Path
from splitbrain.harness.cluster import local_cluster
async def main():
    async with local_cluster("dynamo", 3, Path(sys.argv[1]), command=json.loads(sys.argv[2])) as c:
        print(json.dumps([p.pid for p in c.procs.values()] + [c.net.proc.pid]), flush=True)
        await asyncio.sleep(60)
asyncio.run(main())
"""


def start_tester(root: Path) -> tuple[subprocess.Popen, list[int]]:
    proc = subprocess.Popen([sys.executable, "-c", TESTER, str(root), json.dumps(STANDIN)],
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line, "the tester subprocess did not start its cluster"
    return proc, json.loads(line)


def test_ctrl_c_stops_the_cluster(tmp_path):
    proc, pids = start_tester(tmp_path / "c")
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=10)
    assert not any(alive(p) for p in pids)
    assert registry.read_state(tmp_path / "c") is None


def test_sigkilled_tester_leaves_no_nodes_and_the_next_start_reaps_its_cluster(tmp_path):
    proc, pids = start_tester(tmp_path / "old")
    proc.kill()
    proc.wait(timeout=5)
    # The kernel's death signal takes the nodes and the proxy down with the tester ...
    assert wait_until(lambda: not any(alive(p) for p in pids))
    # ... and its registration is left for the next start to reap.
    assert registry.read_state(tmp_path / "old") is not None

    async def next_start():
        async with local_cluster("dynamo", 1, tmp_path / "new", command=STANDIN):
            assert registry.read_state(tmp_path / "old") is None

    asyncio.run(next_start())


def test_reaper_kills_only_proven_orphans(tmp_path):
    """A registered cluster whose owner died but whose processes survived (e.g. started before
    the death signal was set) is torn down; a process that is not provably ours is spared."""
    root = (tmp_path / "orphan").resolve()
    root.mkdir()
    dead_owner = subprocess.Popen(["true"])
    owner = {"pid": dead_owner.pid, "start": start_time(dead_owner.pid) or 1}
    dead_owner.wait()
    sleeper = [sys.executable, "-c", "import time; time.sleep(30)"]
    ours = spawn([*sleeper, str(root)], root / "ours.log", die_with_tester=True)
    stranger = spawn(sleeper, root / "stranger.log", die_with_tester=True)
    try:
        registry.write_state(root, {"owner": owner, "procs": {
            "n1": ours.to_dict(), "n2": stranger.to_dict()}})
        with registry.registry_lock():
            removed = registry.reap_orphans()
        assert removed == [f"pid {ours.pid}"]
        assert wait_until(lambda: not ours.alive()) and stranger.alive()
        assert registry.read_state(root) is None
    finally:
        for p in (ours, stranger):
            if p.alive():
                os.kill(p.pid, signal.SIGKILL)
                p.popen.wait()


def test_a_live_cluster_root_is_not_taken_over(tmp_path):
    async def scenario():
        async with local_cluster("dynamo", 1, tmp_path / "c", command=STANDIN):
            second = local_cluster("dynamo", 1, tmp_path / "c", command=STANDIN)
            with pytest.raises(errors.TesterFailure, match="already running"):
                await second.start()
            assert registry.read_state(tmp_path / "c") is not None

    asyncio.run(scenario())
