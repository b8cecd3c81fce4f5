"""``splitbrain check``: verdict lines, --json, exit codes, and one sentence for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from splitbrain.history import Event, write_jsonl

pytestmark = pytest.mark.integration  # every test starts a process

SPLITBRAIN = [sys.executable, "-m", "splitbrain.cli"]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(SPLITBRAIN + list(args), capture_output=True, text=True, timeout=60)


def _history(path: Path, read_value) -> Path:
    write_jsonl([Event("invoke", 0, "write", 1, time=1), Event("ok", 0, "write", 1, time=2),
                 Event("invoke", 1, "read", None, time=3), Event("ok", 1, "read", read_value, time=4)],
                path)
    return path


def test_valid_history_exits_0(tmp_path):
    p = run("check", str(_history(tmp_path / "good.jsonl", 1)))
    assert p.returncode == 0, p.stderr
    assert "good.jsonl: linearizable (2 ops" in p.stdout


def test_illegal_history_exits_1_with_explanation(tmp_path):
    good, bad = _history(tmp_path / "good.jsonl", 1), _history(tmp_path / "bad.jsonl", 2)
    p = run("check", str(good), str(bad))
    assert p.returncode == 1
    lines = p.stdout.splitlines()
    assert lines[0].startswith(f"{good}: linearizable")
    assert lines[1].startswith(f"{bad}: NOT linearizable")
    assert "read 2, but the register held 1" in p.stdout


def test_json_output_is_the_result(tmp_path):
    p = run("check", "--json", str(_history(tmp_path / "bad.jsonl", 2)))
    assert p.returncode == 1
    d = json.loads(p.stdout)
    assert d["checker"] == "linearizable" and d["valid"] is False
    [a] = d["anomalies"]
    assert a["type"] == "nonlinearizable" and a["op"] == 2 and 2 in a["ops"]
    assert a["candidates"][0]["why"] == "read 2, but the register held 1"
    assert d["details"]["keys"]["null"]["valid"] is False


def test_initial_and_nil_reads_options(tmp_path):
    path = tmp_path / "h.jsonl"
    write_jsonl([Event("invoke", 0, "read", None, time=1), Event("ok", 0, "read", None, time=2),
                 Event("invoke", 0, "read", None, time=3), Event("ok", 0, "read", 0, time=4)], path)
    assert run("check", str(path)).returncode == 1
    assert run("check", str(path), "--initial", "0").returncode == 1
    assert run("check", str(path), "--initial", "0", "--nil-reads", "unconstrained").returncode == 0


def test_time_limit_gives_unknown(tmp_path):
    events = []
    for p in range(14):  # 14 concurrent writes, then an impossible read: a big search
        events.append(Event("invoke", p, "write", p % 3))
    for p in range(14):
        events.append(Event("ok", p, "write", p % 3))
    events += [Event("invoke", 99, "read", None), Event("ok", 99, "read", 7)]
    events += [Event("invoke", 100 + p, "write", p % 3) for p in range(14)]
    events += [Event("invoke", 98, "read", None), Event("ok", 98, "read", 9)]
    for i, ev in enumerate(events):
        ev.time = i
    path = tmp_path / "big.jsonl"
    write_jsonl(events, path)
    p = run("check", str(path), "--time-limit", "0.000001")
    assert p.returncode == 2, p.stdout
    assert "unknown" in p.stdout and "time limit" in p.stdout


@pytest.mark.parametrize("content, words", [
    ('{"type":"invoke","process":0,"f":"read","time":1}\n{"type":"ok","proc', "line 2"),
    ('{"type":"ok","process":0,"f":"read","time":1}\n', "has no open invocation"),
    ('{"type":"invoke","process":0,"f":"read","time":1}\n'
     '{"type":"done","process":0,"f":"read","time":2}\n', "unknown event type"),
    ("", "holds no events"),
    (b"\x00\x01\x02\xff garbage", "is binary"),
    ("[{:process 0, :type :invoke, :f :read\n", "not valid EDN"),
    ("INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 0\t:ok\n", "line 2"),
])
def test_malformed_input_exits_254_with_one_sentence(tmp_path, content, words):
    path = tmp_path / "bad-input"
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    p = run("check", str(path))
    assert p.returncode == 254, p.stdout + p.stderr
    assert words in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_bad_options_exit_254(tmp_path):
    path = _history(tmp_path / "h.jsonl", 1)
    for args in (["--initial", "{oops"], ["--model", "btree"], ["--time-limit", "-1"],
                 ["--model", "set"]):
        p = run("check", str(path), *args)
        assert p.returncode == 254, (args, p.stderr)
        assert "Traceback" not in p.stderr
    assert run("check", str(tmp_path / "missing.jsonl")).returncode == 254
