"""``splitbrain cluster up | status | down``: a detached local cluster of real nodes that outlives
the command, answers curl-style requests, reports a dead node, and is stopped by ``down``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request

import pytest

from splitbrain.harness.process import start_time

pytestmark = pytest.mark.integration


def splitbrain(tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SPLITBRAIN_REGISTRY": str(tmp_path / "registry")}
    return subprocess.run([sys.executable, "-m", "splitbrain.cli", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)


def test_cluster_up_status_down(tmp_path):
    up = splitbrain(tmp_path, "cluster", "up", "--nodes", "3", "--mode", "dynamo")
    try:
        assert up.returncode == 0, up.stderr
        assert "3 dynamo nodes up on the proxy network" in up.stdout
        state = json.loads((tmp_path / "splitbrain-cluster" / "state.json").read_text())
        assert state["owner"] is None
        pids = {name: p["pid"] for name, p in state["procs"].items()}
        assert set(pids) == {"n1", "n2", "n3", "proxy"}
        assert all(start_time(p) for p in pids.values())  # they outlived 'cluster up'

        status = splitbrain(tmp_path, "cluster", "status")
        assert status.returncode == 0 and status.stdout.count("healthy") == 3
        url = status.stdout.split()[4]
        put = urllib.request.Request(f"{url}/kv/k", data=b'{"value": 7}', method="PUT")
        assert json.load(urllib.request.urlopen(put, timeout=5))["ok"] is True
        assert json.load(urllib.request.urlopen(f"{url}/kv/k", timeout=5))["values"] == [7]

        again = splitbrain(tmp_path, "cluster", "up")
        assert again.returncode == 255 and "already running" in again.stderr

        os.kill(pids["n2"], signal.SIGKILL)
        status = splitbrain(tmp_path, "cluster", "status")
        assert status.returncode == 1 and "n2    pid" in status.stdout and " down " in status.stdout
    finally:
        down = splitbrain(tmp_path, "cluster", "down")
    assert down.returncode == 0 and "data and logs are kept" in down.stdout
    assert not any(start_time(p) for p in pids.values())
    assert (tmp_path / "splitbrain-cluster" / "logs" / "n1.log").exists()
    gone = splitbrain(tmp_path, "cluster", "status")
    assert gone.returncode == 254 and "no cluster is running" in gone.stderr
    assert "Traceback" not in gone.stderr
