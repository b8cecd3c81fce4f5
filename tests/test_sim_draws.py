"""A run's random draws (splitbrain/sim/draws.py): recorded transparently, played back, and
shrunk Hypothesis-style as the shrinker's last stage (splitbrain/sim/shrink.py, stage 9)."""

from __future__ import annotations

import dataclasses
import json
import random

import pytest

from splitbrain.cli import main
from splitbrain.replay import violations
from splitbrain.replay import nontrivial
from splitbrain.sim.draws import PlayedSource, Player, Recorder, Recording, trimmed
from splitbrain.sim.run import SimOptions, history_digest, run_seed
from splitbrain.sim.shrink import shrink

STALE_READ = SimOptions(mode="dynamodb", ops=60, bug=("strong-read-any-replica",))


def _use(rng: random.Random) -> list:
    items = list(range(20))
    rng.shuffle(items)
    return [rng.random(), rng.uniform(-3, 5), rng.choice("abcdef"), rng.sample(range(100), 4),
            rng.randint(0, 10**30), rng.getrandbits(70), rng.getrandbits(0), items,
            rng.choices("xyz", k=3)]


def test_a_recording_source_gives_what_random_gives_and_a_played_one_gives_it_back():
    recording = Recording("net/7")
    assert _use(recording) == _use(random.Random("net/7"))
    assert _use(PlayedSource(recording.draws)) == _use(random.Random("net/7"))
    assert all(0 <= u < 1 for u in recording.draws)


def test_a_played_source_past_its_draws_gives_the_simplest_values():
    played = PlayedSource([0.5])
    assert played.random() == 0.5
    assert [played.random(), played.uniform(2, 3), played.choice("abc"),
            played.getrandbits(40), played.randint(5, 9)] == [0.0, 2.0, "a", 0, 5]
    assert trimmed([0.1, 0.0, 0.2, 0.0, 0.0]) == (0.1, 0.0, 0.2)
    assert nontrivial({"a": (0.1, 0.0), "b": (0.3,)}) == 2


def test_a_recorder_refuses_a_second_source_of_the_same_name():
    recorder = Recorder()
    recorder("net", "net/1")
    with pytest.raises(ValueError, match="asked twice for the random source 'net'"):
        recorder("net", "net/2")


def test_a_recorded_run_played_from_its_draws_is_the_same_run():
    recorder = Recorder()
    opts = SimOptions(ops=40)
    recorded = run_seed(opts, 2, source=recorder)
    assert history_digest(recorded.history) == history_digest(run_seed(opts, 2).history)
    draws = recorder.draws()
    assert {"world", "net", "workload", "nemesis", "node/n1/1"} <= set(draws)
    assert nontrivial(draws) > 1000
    played = run_seed(opts, 2, source=Player(draws))
    assert history_digest(played.history) == history_digest(recorded.history)


@pytest.fixture(scope="module")
def stale():
    """The first of seeds 1-8 the planted bug fails (seed 3 when written), shrunk."""
    caught = next(out for out in (run_seed(STALE_READ, seed) for seed in range(1, 9))
                  if out.result.valid is False)
    return caught, shrink(STALE_READ, caught, budget=40)


def test_shrinking_the_draws_keeps_a_planted_bugs_anomaly_with_almost_no_draws_left(stale):
    caught, shrunk = stale
    assert shrunk.signature == violations(caught.result)[0]
    assert shrunk.signature in violations(shrunk.outcome.result)
    assert shrunk.replay is not None and shrunk.replay.draws is not None
    assert shrunk.draws_before > 1000
    assert shrunk.draws == nontrivial(shrunk.replay.draws) <= shrunk.draws_before // 10  # 1 then
    again = run_seed(SimOptions.of_replay(shrunk.replay), caught.seed, shrunk.replay)
    assert history_digest(again.history) == history_digest(shrunk.outcome.history)


def test_sim_replay_of_the_shrunk_file_reproduces_the_shrunk_run(stale, tmp_path, capsys):
    _, shrunk = stale
    path = shrunk.replay.write(tmp_path / "replay.json")
    assert json.loads(path.read_text())["draws"] == \
        {name: list(seq) for name, seq in shrunk.replay.draws.items()}
    with pytest.raises(SystemExit) as e:
        main(["sim", "--replay", str(path), "--store", str(tmp_path)])
    out = capsys.readouterr().out
    assert e.value.code == 1, out
    assert f"history digest {history_digest(shrunk.outcome.history)}" in out
    assert f"{shrunk.draws} non-trivial random draws: INVALID" in out and "NOT" not in out


def test_shrinking_the_draws_stops_at_its_run_and_cpu_budgets(stale):
    caught, _ = stale
    no_cpu = shrink(STALE_READ, caught, budget=40, draw_cpu=0.0)
    few = shrink(STALE_READ, caught, budget=40, draw_runs=3)
    # the recording run only, then nothing: the draws stay the seed's
    assert no_cpu.draws_runs == 1 and no_cpu.replay.draws is None
    assert no_cpu.draws == no_cpu.draws_before
    assert few.runs == no_cpu.runs + 3 and few.draws_runs == 1 + 3
    assert few.signature in violations(few.outcome.result)


def test_a_version_1_replay_file_still_plays_from_its_seed(stale, tmp_path, capsys):
    caught, shrunk = stale
    old = dataclasses.replace(shrunk.replay, draws=None)
    d = old.to_dict()
    d.pop("draws")
    d["version"] = 1
    path = tmp_path / "replay.json"
    path.write_text(json.dumps(d))
    with pytest.raises(SystemExit):
        main(["sim", "--replay", str(path), "--store", str(tmp_path)])
    played = run_seed(SimOptions.of_replay(old), caught.seed, old)
    assert f"history digest {history_digest(played.history)}" in capsys.readouterr().out
