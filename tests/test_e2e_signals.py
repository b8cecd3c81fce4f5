"""`splitbrain test` interrupted: Ctrl-C (SIGINT), SIGTERM and SIGKILL of the tester leave no
node or proxy behind (at once for SIGINT and SIGTERM, which exit 255 as README says; by the
kernel's death signal and the next start's reaper for SIGKILL), and the partial history on disk
is loadable. With --leave-running, Ctrl-C leaves the cluster up, says so, and 'cluster down'
stops it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from splitbrain.harness.cluster import stop_detached
from splitbrain.harness.process import start_time
from splitbrain.history import read_jsonl

pytestmark = pytest.mark.integration


def start_tester(store: Path, registry: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "SPLITBRAIN_REGISTRY": str(registry)}
    return subprocess.Popen(
        [sys.executable, "-m", "splitbrain.cli", "test", "--mode", "dynamo", "--workload",
         "register", "--nodes", "3", "--store", str(store), "--nemesis-interval", "1", *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def running_procs(store: Path, timeout: float = 20.0) -> tuple[Path, dict[str, dict]]:
    """Once every node of the run under ``store`` is up: its run directory and the processes
    its cluster recorded (nodes and proxy), each {"pid", "start"}."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = store / "latest" / "cluster" / "state.json"
        try:
            procs = json.loads(state.read_text())["procs"]
        except (OSError, ValueError, KeyError):
            procs = {}
        if {"n1", "n2", "n3"} <= set(procs):
            return (store / "latest").resolve(), procs
        time.sleep(0.1)
    raise AssertionError("the cluster never came up")


def alive(procs: dict[str, dict]) -> list[str]:
    return [n for n, p in procs.items() if start_time(p["pid"]) == p["start"]]


def wait_none_alive(procs: dict[str, dict], timeout: float) -> list[str]:
    deadline = time.monotonic() + timeout
    while alive(procs) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive(procs)


def wait_ok_events(run_dir: Path, count: int, timeout: float = 60.0) -> None:
    """Return once the run's history holds ``count`` ok events (the workload is under way)."""
    deadline = time.monotonic() + timeout
    seen = 0
    while time.monotonic() < deadline:
        with open(run_dir / "history.jsonl") as f:
            seen = sum('"type":"ok"' in line for line in f)
        if seen >= count:
            return
        time.sleep(0.1)
    raise AssertionError(f"only {seen} ok events after {timeout:g} s; the workload never got going")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_run_stops_cluster_and_proxies_keeps_the_history_exits_255(tmp_path, sig):
    registry = tmp_path / "registry"
    p = start_tester(tmp_path / "store", registry, "--time-limit", "60")
    try:
        run_dir, procs = running_procs(tmp_path / "store")
        assert set(procs) - {"n1", "n2", "n3"}, f"no proxy recorded beside the nodes: {procs}"
        wait_ok_events(run_dir, 50)
        p.send_signal(sig)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 255, err
    assert err.startswith("splitbrain: interrupted; the cluster was stopped and the partial "
                          f"history is in {run_dir / 'history.jsonl'}"), err
    assert err.count("\n") == 1 and "Traceback" not in err  # one sentence
    assert wait_none_alive(procs, 1.0) == [], "nodes or proxies outlived their tester"
    history = read_jsonl(run_dir / "history.jsonl")
    assert sum(e.type == "ok" for e in history) >= 50
    assert (run_dir / "nodes" / "n1.log").exists()
    assert list(registry.glob("*.json")) == [], "the stopped cluster is still registered"


def test_sigkill_leaves_nothing_once_the_next_run_starts(tmp_path):
    registry = tmp_path / "registry"
    p = start_tester(tmp_path / "store", registry, "--time-limit", "30")
    try:
        run_dir, procs = running_procs(tmp_path / "store")
        wait_ok_events(run_dir, 50)
        p.kill()
        p.wait(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
    # The nodes and the proxy die with their tester (the kernel's death signal) ...
    assert wait_none_alive(procs, 5.0) == []
    history = read_jsonl(run_dir / "history.jsonl")
    assert sum(e.type == "ok" for e in history) >= 50
    # ... and the next start reaps what the dead tester registered.
    assert any(json.loads(e.read_text())["root"] == str(run_dir / "cluster")
               for e in registry.glob("*.json"))
    nxt = start_tester(tmp_path / "store2", registry, "--time-limit", "1", "--nemesis", "none",
                 "--recovery", "0")
    out, err = nxt.communicate(timeout=60)
    assert nxt.returncode == 0, err
    assert list(registry.glob("*.json")) == []
    assert not (run_dir / "cluster" / "state.json").exists()


def test_sigint_with_leave_running_leaves_the_cluster_and_says_so(tmp_path):
    p = start_tester(tmp_path / "store", tmp_path / "registry", "--time-limit", "60",
                     "--nemesis", "none", "--leave-running")
    root = None
    try:
        run_dir, procs = running_procs(tmp_path / "store")
        root = run_dir / "cluster"
        wait_ok_events(run_dir, 20)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
        assert p.returncode == 255, err
        assert err.startswith("splitbrain: interrupted; the cluster was left running and the "
                              "partial history is in"), err
        assert sorted(alive(procs)) == sorted(procs), "--leave-running, yet the cluster died"
        down = subprocess.run([sys.executable, "-m", "splitbrain.cli", "cluster", "down",
                               "--root", str(root)], capture_output=True, text=True,
                              timeout=60, env={**os.environ,
                                               "SPLITBRAIN_REGISTRY": str(tmp_path / "registry")})
        assert down.returncode == 0, down.stderr
        assert wait_none_alive(procs, 5.0) == [], "cluster down left processes running"
    finally:
        if p.poll() is None:
            p.kill()
        if root is not None:
            stop_detached(root)  # None when cluster down already did it
