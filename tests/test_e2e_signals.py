"""`splitbrain test` interrupted: Ctrl-C (SIGINT) and SIGKILL of the tester leave no node
behind (at once for SIGINT, by the kernel's death signal and the next start's reaper for
SIGKILL), and the partial history on disk is loadable."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

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


def test_sigint_stops_the_cluster_and_keeps_the_partial_history(tmp_path):
    p = start_tester(tmp_path / "store", tmp_path / "registry", "--time-limit", "30")
    try:
        run_dir, procs = running_procs(tmp_path / "store")
        time.sleep(5)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode in (255, 2), err
    assert "interrupted" in err and "Traceback" not in err
    assert err.count("\n") == 1  # one sentence
    assert wait_none_alive(procs, 1.0) == []
    history = read_jsonl(run_dir / "history.jsonl")
    assert sum(e.type == "ok" for e in history) > 50
    assert (run_dir / "nodes" / "n1.log").exists()


def test_sigkill_leaves_nothing_once_the_next_run_starts(tmp_path):
    registry = tmp_path / "registry"
    p = start_tester(tmp_path / "store", registry, "--time-limit", "30")
    try:
        run_dir, procs = running_procs(tmp_path / "store")
        time.sleep(5)
        p.kill()
        p.wait(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
    # The nodes and the proxy die with their tester (the kernel's death signal) ...
    assert wait_none_alive(procs, 5.0) == []
    history = read_jsonl(run_dir / "history.jsonl")
    assert sum(e.type == "ok" for e in history) > 50
    # ... and the next start reaps what the dead tester registered.
    assert any(json.loads(e.read_text())["root"] == str(run_dir / "cluster")
               for e in registry.glob("*.json"))
    nxt = start_tester(tmp_path / "store2", registry, "--time-limit", "1", "--nemesis", "none",
                 "--recovery", "0")
    out, err = nxt.communicate(timeout=60)
    assert nxt.returncode == 0, err
    assert list(registry.glob("*.json")) == []
    assert not (run_dir / "cluster" / "state.json").exists()
