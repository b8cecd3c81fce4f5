"""The example plugin package (examples/maxregister) installed with pip into a temporary
target, then used through the command line: listed, its model and checker judging a history,
its workload running against a 3-node dynamodb cluster."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
SPLITBRAIN = [sys.executable, "-m", "splitbrain.cli"]


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    target = tmp_path_factory.mktemp("i17-plugin-target")
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                           "--target", str(target), str(ROOT / "examples" / "maxregister")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"pip could not install the example plugin:\n{done.stderr}"
    return {**os.environ, "PYTHONPATH": str(target)}


def splitbrain(args: list[str], env: dict[str, str], timeout: float = 120
               ) -> subprocess.CompletedProcess:
    return subprocess.run([*SPLITBRAIN, *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


def test_the_installed_plugins_are_listed(plugin_env):
    out = splitbrain(["plugins"], plugin_env).stdout.splitlines()
    rows = [line.split()[:3] for line in out]
    assert ["model", "max-register", "splitbrain_maxregister.model:MaxRegister"] in rows
    assert ["workload", "max-register",
            "splitbrain_maxregister.workload:MaxRegisterWorkload"] in rows
    assert ["checker", "max-monotonic", "splitbrain_maxregister.checker:monotonic_reads"] in rows


def test_the_plugin_model_and_checker_judge_a_history(plugin_env, tmp_path):
    events = [("invoke", 0, "write", 5), ("ok", 0, "write", 5), ("invoke", 0, "read", None),
              ("ok", 0, "read", 7), ("invoke", 0, "read", None), ("ok", 0, "read", 5)]
    path = tmp_path / "h.jsonl"
    path.write_text("".join(json.dumps({"type": t, "process": p, "f": f, "value": v,
                                        "time": i}) + "\n"
                            for i, (t, p, f, v) in enumerate(events)))
    done = splitbrain(["check", str(path), "--model", "max-register", "--checker",
                       "max-monotonic"], plugin_env)
    assert done.returncode == 1, done.stderr
    assert "read -> 7 (op 2) cannot be linearized" in done.stdout
    assert "max-monotonic: INVALID (1 anomalies)" in done.stdout
    assert "Client 0 read 7 (op 2), then 5 (op 4), which is smaller." in done.stdout


def test_the_plugin_workload_runs_a_test(plugin_env, tmp_path):
    done = splitbrain(["test", "--mode", "dynamodb", "--workload", "max-register", "--nodes",
                       "3", "--time-limit", "3", "--nemesis", "none", "--rate", "40",
                       "--concurrency", "3", "--recovery", "1", "--seed", "1", "--store",
                       str(tmp_path / "store")], plugin_env, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "linearizable   valid" in done.stdout
    run_dir = next((tmp_path / "store" / "dynamodb-max-register-none").iterdir())
    ops = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    assert {e["f"] for e in ops if e["process"] != "nemesis"} == {"read", "write"}
    assert sum(e["type"] == "ok" for e in ops) > 10
    lww = splitbrain(["test", "--mode", "lww", "--workload", "max-register"], plugin_env)
    assert lww.returncode == 254
    assert lww.stderr.strip() == ("splitbrain: the max-register workload needs conditional "
                                  "writes, which mode lww lacks; use --mode dynamodb")
