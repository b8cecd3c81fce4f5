"""The CI gate against real clusters: a series that finds lost writes exits 1 at the first
invalid run and summarises it; a cluster whose nodes cannot start exits 255; re-judging the
store of real runs finds no change until a recorded verdict differs from today's."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from splitbrain.cli import main
from splitbrain.harness import cluster, store
from splitbrain.reports import markdown

pytestmark = pytest.mark.integration


def test_a_series_stops_at_the_first_run_that_loses_writes_and_the_store_rejudges(tmp_path):
    summary, runs = tmp_path / "summary.md", tmp_path / "store"
    env = {**os.environ, "SPLITBRAIN_REGISTRY": str(tmp_path / "registry")}
    env.pop(markdown.STEP_SUMMARY_ENV, None)
    done = subprocess.run(
        [sys.executable, "-m", "splitbrain.cli", "test", "--mode", "lww", "--nemesis",
         "clock,partition", "--nemesis-interval", "1.5", "--recovery", "3", "--time-limit", "8",
         "--seed", "3", "--expect", "no-lost-writes", "--test-count", "3", "--fail-fast",
         "--store", str(runs), "--summary-md", str(summary)],
        env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 1, done.stderr
    stored = sorted(p.parent for p in runs.rglob(store.TEST_FILE))
    md = summary.read_text()
    rows = [line for line in md.splitlines() if line.startswith("| ") and "seed" not in line]
    assert len(rows) == len(stored) and "❌ invalid" in rows[-1] and "lost-write" in rows[-1]
    assert all("✅ valid" in row for row in rows[:-1])   # fail-fast: the invalid run was last
    seed = 3 + len(stored) - 1
    assert f"--seed {seed} " in md and "- **--expect no-lost-writes**: lww: lost-write" in md

    def check_store() -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "splitbrain.cli", "check", str(runs)],
                              env=env, capture_output=True, text=True, timeout=120)

    again = check_store()
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.endswith(f"{len(stored)} runs judged again, 0 verdicts changed\n")
    results = stored[-1] / store.RESULTS_FILE
    results.write_text(json.dumps({**json.loads(results.read_text()), "valid": True}))
    again = check_store()
    assert again.returncode == 1
    assert again.stdout.splitlines()[1].split()[:3] == [str(stored[-1]), "valid", "invalid"]


def test_nodes_that_cannot_start_exit_255_with_the_run_in_the_summary(tmp_path, monkeypatch,
                                                                      capsys):
    monkeypatch.setattr(cluster, "node_command",
                        lambda: [sys.executable, "-c", "import sys; sys.exit(3)"])
    monkeypatch.delenv(markdown.STEP_SUMMARY_ENV, raising=False)
    summary = tmp_path / "summary.md"
    with pytest.raises(SystemExit) as e:
        main(["test", "--mode", "lww", "--nodes", "3", "--nemesis", "none", "--time-limit", "2",
              "--seed", "9", "--test-count", "2", "--store", str(tmp_path / "store"),
              "--summary-md", str(summary)])
    assert e.value.code == 255
    err = capsys.readouterr().err
    assert "exited with code 3" in err and "Traceback" not in err
    md = summary.read_text()
    assert md.startswith("## 💥 splitbrain test: could not run") and "1 of 2 runs" in md
    assert "exited with code 3" in md and "--seed 9" in md
    assert "| 1 | lww-register-none | 9 | 💥 could not run |  |  |" in md   # a series: a table
    assert len(list((tmp_path / "store").rglob(store.TEST_FILE))) == 1   # the series stopped
