"""A seed's history is the same byte for byte in separate processes with different
PYTHONHASHSEEDs (set and dict order of strings, object ids and addresses all differ)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration

SCRIPT = """
import sys
from splitbrain.sim.run import SimOptions, history_digest, run_seed
for mode, seed in (("dynamodb", 1), ("dynamodb", 4), ("lww", 2), ("dynamo", 3)):
    out = run_seed(SimOptions(mode=mode, ops=120), seed)
    print(mode, seed, len(out.history.events), history_digest(out.history))
"""


def _digests(hash_seed: str) -> list[str]:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_the_same_seeds_give_the_same_histories_whatever_the_hash_seed():
    first, second = _digests("1"), _digests("4242")
    assert len(first) == 4
    assert first == second


def test_worker_processes_give_the_same_seeds_as_one_process(tmp_path):
    from rich.console import Console

    from splitbrain.sim.command import simulate
    from splitbrain.sim.run import SimOptions

    opts = SimOptions(ops=60)
    quiet = Console(quiet=True)
    one, _ = simulate(opts, range(1, 5), 1, str(tmp_path), quiet)
    two, _ = simulate(opts, range(1, 5), 2, str(tmp_path), quiet)
    assert [s.digest for s in one] == [s.digest for s in two]
    assert len({s.digest for s in one}) == 4
