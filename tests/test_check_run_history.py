"""``splitbrain check RUN/history.jsonl`` judges a stored run's history as its run was (its
test.json beside it) and says so; a history elsewhere that holds eventual reads is judged for
linearizability with a note saying how to leave them out."""

from __future__ import annotations

import shutil

import pytest
from test_runner_store import stored_run

from splitbrain.cli import main
from splitbrain.harness import store
from splitbrain.harness.testrun import recheck


def run(capsys, *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as e:
        main(["check", *args])
    return e.value.code, capsys.readouterr().out


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return stored_run(tmp_path_factory.mktemp("store"))


def test_a_runs_history_is_judged_with_its_runs_checkers(run_dir, capsys):
    history = run_dir / store.HISTORY_FILE
    code, out = run(capsys, str(history))
    expected = recheck(run_dir)[1]
    assert code == {True: 0, False: 1}.get(expected.valid, 2)
    first, *rest = out.splitlines()
    assert first == (f"{history}: judged with its run's checkers and options (test.json beside "
                     f"it); pass --model or --consistency to check it for linearizability alone")
    assert any(line.startswith("  linearizable ") for line in rest)
    assert rest[-1].startswith("verdict: ")


@pytest.mark.parametrize("options", [["--model", "cas-register", "--consistency", "strong"],
                                     ["--consistency", "strong"]])
def test_an_option_checks_a_runs_history_for_linearizability_alone(run_dir, capsys, options):
    history = run_dir / store.HISTORY_FILE
    code, out = run(capsys, str(history), *options)
    assert out.startswith(f"{history}: linearizable (")
    assert code == 0


def test_eventual_reads_judged_elsewhere_are_named_with_the_way_out(run_dir, tmp_path, capsys):
    copy = tmp_path / "history.jsonl"
    shutil.copy(run_dir / store.HISTORY_FILE, copy)
    eventual = sum(ev.consistency == "eventual" and ev.type in ("ok", "info")
                   for ev in store.load_history(run_dir))
    assert eventual > 0, "the stored dynamodb run should hold eventual reads"
    _, out = run(capsys, str(copy))
    assert (f"  note: {eventual} ops marked consistency: eventual were judged for "
            f"linearizability too; pass --consistency strong to leave them out") in out
    code, out = run(capsys, str(copy), "--consistency", "strong")
    assert "note:" not in out and code == 0


def test_a_report_of_a_runs_history_is_the_runs_report(run_dir, tmp_path, capsys):
    out = tmp_path / "report.html"
    run(capsys, str(run_dir / store.HISTORY_FILE), "--report", str(out))
    assert "(checked again)" in out.read_text()
