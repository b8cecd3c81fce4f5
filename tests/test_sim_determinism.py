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


#: A run played from edited random draws (as the shrinker edits them): a third of them made
#: trivial, and one source dropped.
EDITED = """
from splitbrain.sim.draws import Player, Recorder
from splitbrain.sim.run import SimOptions, history_digest, run_seed
opts = SimOptions(mode="dynamo", ops=40)
recorder = Recorder()
run_seed(opts, 5, source=recorder)
draws = {name: tuple(0.0 if i % 3 == 0 else u for i, u in enumerate(seq))
         for name, seq in recorder.draws().items() if name != "world"}
out = run_seed(opts, 5, source=Player(draws))
print(len(out.history.events), history_digest(out.history))
"""


def _digests(hash_seed: str, script: str = SCRIPT) -> list[str]:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_the_same_seeds_give_the_same_histories_whatever_the_hash_seed():
    first, second = _digests("1"), _digests("4242")
    assert len(first) == 4
    assert first == second


def test_edited_random_draws_give_the_same_history_whatever_the_hash_seed():
    first, second = _digests("7", EDITED), _digests("99", EDITED)
    assert len(first) == 1
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
