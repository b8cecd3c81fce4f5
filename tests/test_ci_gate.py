"""splitbrain as a CI gate (docs/ci.md): the exit-code contract of a series of runs
(``--test-count N --fail-fast``), the Markdown summary (``--summary-md``, GitHub's step summary)
and re-judging a whole store (``splitbrain check store/``). Runs are canned here (``run_test``
replaced); tests/test_ci_e2e.py makes a real one fail."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from eventual_histories import Builder
from splitbrain.checkers import policy
from splitbrain.checkers.result import Result
from splitbrain.cli import main
from splitbrain import errors
from splitbrain.harness import store, testrun
from splitbrain.harness.testrun import Outcome, TestOptions
from splitbrain.history import write_jsonl
from splitbrain.reports import markdown

LOST = {"type": "lost-write", "ops": [4, 9],
        "explanation": "write 3 (op 4) was acknowledged, then lost to write 1 (op 9)."}
STALE = {"type": "stale-read", "ops": [12], "explanation": "read 1 after write 2 finished."}


def lww_verdict(*, expect=()) -> Result:
    """An lww verdict with two lost writes and a stale read: valid, unless no-lost-writes is
    expected."""
    return policy.verdict("lww", {"lww": Result(False, anomalies=[LOST, LOST]),
                                  "staleness": Result(True, anomalies=[STALE])}, expect)


VALID = Result(True, checker="verdict")
UNKNOWN = Result("unknown", reason="linearizable: out of time", checker="verdict")


@pytest.fixture
def canned(monkeypatch, tmp_path):
    """Replace run_test by one returning the given verdicts in turn (an exception is raised);
    returns the list of the options of each run it was asked for."""
    calls: list[TestOptions] = []
    queue: list = []

    def fake_run_test(opts: TestOptions) -> Outcome:
        opts.validate()
        opts.seed = 1000 + len(calls) if opts.seed is None else opts.seed
        calls.append(opts)
        verdict = queue.pop(0)
        if isinstance(verdict, BaseException):
            raise verdict
        run_dir = tmp_path / f"run{len(calls)}"
        test = {"name": opts.name, "options": asdict(opts), "seed": opts.seed,
                "command": opts.command(), "net": "proxy"}
        return Outcome(run_dir, verdict, test, report=run_dir / "report.html")

    monkeypatch.setattr(testrun, "run_test", fake_run_test)
    monkeypatch.delenv(markdown.STEP_SUMMARY_ENV, raising=False)

    def runs(*verdicts):
        queue[:] = verdicts
        return calls
    return runs


def exit_code(argv) -> int:
    with pytest.raises(SystemExit) as e:
        main(argv)
    return e.value.code


SERIES = ["test", "--mode", "lww", "--seed", "7", "--test-count", "3"]


def test_fail_fast_stops_at_the_first_invalid_run_and_the_summary_lists_each_seed(
        canned, tmp_path, capsys):
    calls = canned(VALID, lww_verdict(expect=["no-lost-writes"]), VALID)
    out = tmp_path / "summary.md"
    assert exit_code([*SERIES, "--expect", "no-lost-writes", "--fail-fast",
                      "--summary-md", str(out)]) == 1
    assert [o.seed for o in calls] == [7, 8]          # the third run never started
    md = out.read_text()
    assert md.startswith("## ❌ splitbrain test: invalid") and "2 of 3 runs" in md
    rows = [line for line in md.splitlines() if line.startswith("| 1 ") or
            line.startswith("| 2 ")]
    assert "| 7 |" in rows[0] and "✅ valid" in rows[0]
    assert "| 8 |" in rows[1] and "❌ invalid" in rows[1] and "2 lost-write" in rows[1]
    assert "--seed 8" in md and "--seed 7" not in md   # only the invalid run gets a section
    assert "verdict: INVALID" in capsys.readouterr().out


def test_without_fail_fast_every_run_runs_and_invalid_decides(canned):
    calls = canned(VALID, lww_verdict(expect=["no-lost-writes"]), UNKNOWN)
    assert exit_code([*SERIES, "--expect", "no-lost-writes"]) == 1
    assert [o.seed for o in calls] == [7, 8, 9]


@pytest.mark.parametrize("verdicts, code", [
    ((VALID, VALID, VALID), 0),
    ((VALID, UNKNOWN, VALID), 2),
    ((UNKNOWN, errors.TesterFailure("node n3 did not start")), 255),
    ((lww_verdict(expect=["no-lost-writes"]), errors.TesterFailure("node n3 did not start")), 1),
])
def test_the_exit_code_is_the_worst_verdict(canned, verdicts, code):
    canned(*verdicts)
    assert exit_code([*SERIES, "--expect", "no-lost-writes"]) == code


def test_one_is_never_the_tester_failing(canned, capsys, monkeypatch):
    """A tester bug, a tester failure and bad input all stay off 1, which CI never retries."""
    monkeypatch.delenv("SPLITBRAIN_DEBUG", raising=False)
    canned(RuntimeError("a bug of ours"))
    assert exit_code(SERIES) == 255
    canned(errors.TesterFailure("the cluster never became healthy"))
    assert exit_code(SERIES) == 255
    assert exit_code([*SERIES[:-1], "0"]) == 254      # --test-count 0
    assert exit_code(["test", "--mode", "cassandra"]) == 254
    assert "Traceback" not in capsys.readouterr().err


def test_a_run_the_tester_could_not_finish_is_in_the_summary(canned, tmp_path, capsys):
    canned(VALID, errors.TesterFailure("node n3 did not start (port taken)"), VALID)
    out = tmp_path / "summary.md"
    assert exit_code([*SERIES, "--summary-md", str(out)]) == 255
    md = out.read_text()
    assert "💥 could not run" in md and "node n3 did not start (port taken)" in md
    assert "--seed 8" in md and "2 of 3 runs" in md   # the series stopped there
    assert "splitbrain: node n3 did not start" in capsys.readouterr().err


def test_the_summary_is_appended_to_the_github_step_summary(canned, tmp_path, monkeypatch):
    step = tmp_path / "step.md"
    step.write_text("earlier step\n")
    monkeypatch.setenv(markdown.STEP_SUMMARY_ENV, str(step))
    canned(lww_verdict())
    assert exit_code(["test", "--mode", "lww", "--seed", "5"]) == 0
    text = step.read_text()
    assert text.startswith("earlier step\n## ✅ splitbrain test: valid")
    assert "Permitted by the mode (counted, not failing): 2 lost-write, 1 stale-read" in text
    canned(VALID)
    assert exit_code(["test", "--mode", "lww", "--no-step-summary"]) == 0
    assert step.read_text() == text


def test_a_summary_file_in_a_missing_folder_is_bad_input_before_any_run(canned, tmp_path,
                                                                        capsys):
    calls = canned(VALID)
    assert exit_code(["test", "--summary-md", str(tmp_path / "no" / "s.md")]) == 254
    assert calls == [] and "name a file in an existing folder" in capsys.readouterr().err


def test_a_summary_that_cannot_be_written_leaves_the_verdict_its_exit_code(
        canned, tmp_path, monkeypatch, capsys):
    out = tmp_path / "summary.md"
    calls = canned(lww_verdict(expect=["no-lost-writes"]))
    run = testrun.run_test

    def run_then_block(opts):
        out.mkdir()               # the file's place is taken while the test runs
        return run(opts)

    monkeypatch.setattr(testrun, "run_test", run_then_block)
    assert exit_code(["test", "--mode", "lww", "--expect", "no-lost-writes",
                      "--summary-md", str(out)]) == 1
    assert len(calls) == 1
    assert f"the summary was not written ({out}: Is a directory); the verdict stands" in \
        capsys.readouterr().err


# --- The summary's content ------------------------------------------------------------------

def entry(result: Result, **test) -> markdown.Entry:
    opts = TestOptions(mode="lww", nemesis="clock,partition", seed=42, expect=("no-lost-writes",))
    record = {"name": opts.name, "options": asdict(opts), "seed": 42,
              "command": opts.command(), **test}
    return markdown.run_entry(record, result.to_dict(), "store/lww-register-clock+partition/1")


def test_a_summary_names_each_violated_promise_with_its_first_anomaly():
    md = markdown.render([entry(lww_verdict(expect=["no-lost-writes"]))], title="splitbrain test")
    lines = md.splitlines()
    assert lines[0] == "## ❌ splitbrain test: invalid"
    assert ("mode **lww**, workload **register**, faults **clock,partition**, nodes **5**, "
            "network **proxy**, time limit **60 s**, seed **42**") in md
    violated = [line for line in lines if line.startswith("- ")]
    assert violated == ["- **--expect no-lost-writes**: lww: lost-write (ops 4, 9): "
                        "write 3 (op 4) was acknowledged, then lost to write 1 (op 9)."]
    assert "Violations by type: 2 lost-write" in md
    assert "Permitted by the mode (counted, not failing): 1 stale-read" in md
    command = md.split("```\n")[1].strip()
    assert command == ("splitbrain test --mode lww --nemesis clock,partition --seed 42 "
                       "--expect no-lost-writes")


def test_an_undecided_run_says_why():
    verdict = policy.verdict("dynamodb", {"linearizable": Result("unknown", reason="out of time")})
    md = markdown.render([entry(verdict)], title="splitbrain test")
    assert md.startswith("## ❔ splitbrain test: unknown")
    assert "Undecided: linearizable: out of time" in md and "Violated:" not in md


def test_a_huge_summary_stays_far_under_githubs_limit():
    entries = [entry(lww_verdict(expect=["no-lost-writes"]), seed=i) for i in range(1005)]
    md = markdown.render(entries, title="splitbrain check")
    assert sum(line.startswith("| ") for line in md.splitlines()) == 1 + markdown.MAX_ROWS
    assert "… and 5 more rows, left out" in md and "… and 985 more not valid" in md
    assert len(md.encode()) < 512 * 1024


def test_a_promise_broken_past_the_listed_anomalies_says_so():
    counted = Result(True, stats={"anomaly_counts": {"stale-read": 3},
                                  "strong_anomaly_counts": {"stale-read": 1}})
    verdict = policy.verdict("dynamodb", {"staleness": counted, "linearizable": Result(True)})
    assert verdict.valid is False
    assert markdown.violations(verdict.to_dict()) == [
        ("strong reads and conditional writes are linearizable",
         "no anomaly listed: the count is in results.json")]


def test_hostile_values_cannot_break_the_markdown():
    evil = {"type": "invented-value", "ops": [1],
            "explanation": "read <script>alert(1)</script> | `x` **y**\nnext [a](javascript:b)"}
    verdict = policy.verdict("lww", {"reads": Result(False, anomalies=[evil])})
    md = markdown.render([entry(verdict, command="splitbrain test --x '```'")], title="t")
    assert "<script>" not in md and "&lt;script>alert(1)&lt;/script>" in md
    assert "\\| \\`x\\` \\*\\*y\\*\\* next \\[a\\](javascript:b)" in md
    assert "````\nsplitbrain test --x '```'\n````" in md


@given(st.text())
def test_escaped_text_is_one_inert_line(text):
    out = markdown.escape(text)
    assert "\n" not in out and "\r" not in out and "<" not in out
    assert len(out) <= 2 * markdown.LINE_LIMIT          # at most one backslash per character
    unescaped = re.sub(r"\\.", "", out)                 # drop every escaped pair
    assert not set(unescaped) & set("\\`*_[]|~")


def test_a_history_file_checked_offline_gets_its_check_command(tmp_path):
    from splitbrain.checkers.linearizable import check

    b = Builder()
    b.op(0, "write", 1, t0=0, t1=1)
    b.op(1, "read", None, t0=2, t1=3, output=2)
    path = tmp_path / "h.jsonl"
    write_jsonl(b.history().events, path)
    out = tmp_path / "s.md"
    assert exit_code(["check", str(path), "--model", "register", "--summary-md", str(out)]) == 1
    md = out.read_text()
    assert md.startswith("## ❌ splitbrain check: invalid")
    assert "- **register**: " in md and "read" in md
    assert f"splitbrain check {path} --model register" in md
    assert check(b.history(), model="register").valid is False


# --- Re-judging a whole store -----------------------------------------------------------------

def stored(root: Path, name: str, mode: str, recorded, *, invented: bool, results=True) -> Path:
    """A run directory of an lww or dynamo register test whose history reads an invented value
    (``invented``) or only written ones; results.json records ``recorded``."""
    opts = TestOptions(mode=mode, seed=len(list(root.rglob("test.json"))), store=str(root))
    run_dir = store.new_run_dir(root, opts.name)
    run_dir = run_dir.rename(run_dir.with_name(name))
    store.write_json(run_dir / store.TEST_FILE, {"name": opts.name, "options": asdict(opts),
                                                 "seed": opts.seed, "command": opts.command()})
    b = Builder()
    b.op(0, "write", 1, t0=0, t1=1, meta={"ts": 1.0})
    b.op(1, "read", None, t0=2, t1=3, output=7 if invented else 1, meta={"ts": 1.0})
    b.op(2, "read", None, t0=4, t1=5, output=1, node="n1", meta={"ts": 1.0, "final": True},
         inv_meta={"final": True})
    write_jsonl(b.history().events, run_dir / store.HISTORY_FILE)
    if results:
        store.write_json(run_dir / store.RESULTS_FILE, {"valid": recorded, "anomalies": []})
    return run_dir


@pytest.fixture
def archive(tmp_path):
    root = tmp_path / "store"
    became_invalid = stored(root, "a", "lww", True, invented=True)
    stored(root, "b", "lww", False, invented=False)      # became valid
    stored(root, "c", "lww", True, invented=False)       # unchanged
    stored(root, "d", "lww", None, invented=True, results=False)  # the tester failed
    return root, became_invalid


def test_check_store_lists_the_runs_whose_verdict_changed(archive, capsys, tmp_path,
                                                          monkeypatch):
    monkeypatch.delenv(markdown.STEP_SUMMARY_ENV, raising=False)
    root, became_invalid = archive
    out = tmp_path / "s.md"
    assert exit_code(["check", str(root), "--summary-md", str(out)]) == 1
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert captured.err.splitlines() == [f"[{i}/4] {run}" for i, run in enumerate(
        sorted(p.parent for p in root.rglob(store.TEST_FILE) if "latest" not in p.parts), 1)]
    assert lines[0].split() == ["run", "recorded", "now", "why"]
    assert lines[1].split()[:3] == [str(became_invalid), "valid", "invalid"]
    assert "violated: reads return only values that were written" in lines[1]
    assert lines[2].split()[1:3] == ["invalid", "valid"] and lines[2].split()[0].endswith("/b")
    assert lines[3] == (f"{root}: 3 runs judged again, 2 verdicts changed, 1 never checked "
                        f"(the tester failed during them)")   # store/latest judged nothing twice
    md = out.read_text()
    assert md.startswith("## ❌ splitbrain check: invalid") and "| recorded |" in md
    assert "recorded verdict **valid**" in md and "--seed 0" in md


def test_check_store_exit_codes(archive, capsys):
    root, became_invalid = archive
    store.write_json(became_invalid / store.RESULTS_FILE, {"valid": False})
    assert exit_code(["check", str(root)]) == 0       # the only change is one to valid
    (root / "lww-register-partition+kill" / "c" / store.RESULTS_FILE).write_text("{oops")
    assert exit_code(["check", str(root)]) == 254
    assert "c: could not be judged:" in capsys.readouterr().out
    assert exit_code(["check", str(root), "--json"]) == 254
    found = json.loads(capsys.readouterr().out)
    assert found["judged"] == 2 and found["changed"][0]["run"].endswith("/b")
    assert found["unreadable"][0]["error"].endswith("cannot be read as JSON (Expecting "
                                                    "property name enclosed in double quotes: "
                                                    "line 1 column 2 (char 1))")


@pytest.mark.parametrize("field, value, message", [
    ("mode", "cassandra", "records mode 'cassandra', which has no verdict policy"),
    ("expect", ["nonsense"], "records --expect 'nonsense' is not a property"),
])
def test_a_run_recording_what_cannot_be_judged_is_bad_input_not_a_bug(
        archive, capsys, field, value, message):
    root, became_invalid = archive
    test = json.loads((became_invalid / store.TEST_FILE).read_text())
    test["options"][field] = value
    store.write_json(became_invalid / store.TEST_FILE, test)
    assert exit_code(["check", str(became_invalid)]) == 254
    assert message in capsys.readouterr().err
    assert exit_code(["check", str(root)]) == 254            # listed; the others still judged
    out = capsys.readouterr().out
    assert f"{became_invalid}: could not be judged: " in out and message in out
    assert "3 runs judged again" not in out and "2 runs judged again, 1 verdicts changed" in out


def test_a_store_has_no_single_report(archive, capsys, tmp_path):
    root, _ = archive
    assert exit_code(["check", str(root), "--report", str(tmp_path / "r.html")]) == 254
    assert "--report writes one report" in capsys.readouterr().err


def test_a_store_of_runs_that_never_recorded_a_verdict_is_bad_input(tmp_path, capsys):
    stored(tmp_path, "a", "lww", None, invented=True, results=False)
    assert exit_code(["check", str(tmp_path)]) == 254
    assert "none recorded a verdict" in capsys.readouterr().err
