"""report.html: content, timelines, escaping, robustness, and the report/check commands."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from html_page import Page
from in_process import cli_exit
from report_samples import EVIL, small_events, small_run
from splitbrain.checkers import availability, lww, staleness
from splitbrain.checkers.linearizable import check as linearizable
from splitbrain.checkers.result import Result, compose
from splitbrain.history import History, read_jsonl, validate
from splitbrain.reports import write_history_report, write_run_report


@pytest.fixture
def small(tmp_path) -> tuple[Path, str, Page]:
    run = small_run(tmp_path / "run")
    report = write_run_report(run)
    html = report.read_text()
    return run, html, Page(html)


def test_header_shows_verdict_run_facts_and_reproducing_command(small):
    run, html, page = small
    assert page.with_class("v-invalid"), "the header is coloured invalid"
    text = page.visible
    assert "INVALID" in text
    assert "linearizable: 1 nonlinearizable; counter: unknown (ran out of its 10 s time budget)" in text
    for fact in ("mode lww", "workload register", "faults partition,kill", "nodes 5",
                 "network proxy", "seed 42", "duration 170 ms",
                 "ops 8 (6 ok, 1 failed, 1 indeterminate)"):
        assert fact in text, fact
    assert "splitbrain test --mode lww --seed 42" in text


def test_one_section_per_checker_with_verdict_stats_and_every_anomaly(small):
    _, html, page = small
    sections = {a["id"]: a for t, a in page.elements if t == "section" and "checker" in
                (a.get("class") or "")}
    assert set(sections) == {"checker-linearizable", "checker-lww", "checker-counter"}
    # invalid first, then unknown, then valid
    order = [a["id"] for t, a in page.elements if t == "section" and a.get("id", "").startswith("checker-")]
    assert order == ["checker-linearizable", "checker-counter", "checker-lww"]
    text = page.visible
    assert "read of x by p2 returned 1, but both writes (1 then 2) completed" in text
    assert "was acknowledged after write 10 (op 12) finished, but lost to it" in text
    assert "ran out of its 10 s time budget" in text
    # stats and the per-key table of the linearizability checker
    assert re.search(r"seconds\s+0\.004", text)
    assert re.search(r'"?x"?\s+invalid\s+4', text)


def test_linearizability_timeline_has_lanes_linearization_failing_op_and_tooltips(small):
    _, html, page = small
    bars = {a["data-op"]: a["class"] for _, a in page.elements if "data-op" in a
            and "bar" in a.get("class", "")}
    assert "r-failing" in bars["7"], "the read that cannot be placed is marked"
    assert "r-linearized" in bars["2"] and "r-linearized" in bars["4"]
    assert "o-info" in bars["5"], "the crashed write runs off to the right"
    steps = [r for r in page.scripts if r[0].get("id") == "tips-checker-linearizable-1"]
    tips = json.loads(steps[0][1])
    assert set(tips) >= {"2", "4", "5", "7"}
    failing = dict(tips["7"]["rows"])
    assert failing["cannot be placed"] == "after step 2, from state 2"
    assert "read → 1 → 2 (read returned 1, register holds 2)" in failing["states it could have seen"]
    assert json.loads(failing["invoke event"])["index"] == 7
    assert json.loads(failing["completion event"])["value"] == 1
    assert dict(tips["4"]["rows"])["state after"] == "2"
    assert dict(tips["4"]["rows"])["state before"] == "1"
    # the state ribbon and the numbered linearization points
    assert page.with_class("lin-point") and page.with_class("ribbon")
    text = page.visible
    assert "cannot be placed after state 2" in text


def test_eventual_anomaly_timeline_names_its_ops_with_timestamps(small):
    _, html, page = small
    tips = json.loads([t for a, t in page.scripts if a.get("id") == "tips-checker-lww-1"][0])
    assert set(tips) == {"12", "14"}
    assert "@ts 105" in html and "@ts 101" in html
    assert dict(tips["12"]["rows"])["meta.ts"] == "105.0"


def test_perf_plots_shade_faults_and_availability_is_per_fault_kind(small):
    _, html, page = small
    assert page.with_class("band"), "fault intervals are shaded"
    assert "partition n1 n2 | n3 n4 n5" in html and "kill n3" in html
    titles = [a.get("aria-label") for t, a in page.elements if t == "svg"]
    assert "read latency" in titles and "write latency" in titles and "throughput" in titles
    text = page.visible
    # ops invoked while each fault was active: ops, ok, failed, indeterminate, available
    assert "Availability by fault while ops ok failed indeterminate available " \
           "no fault 3 3 0 0 100.0% kill 1 0 1 0 0.0% partition 4 3 0 1 75.0%" in text
    assert "k_staleness" in text and "t_visibility_ms" in text  # distributions in details


def test_files_and_node_logs_are_linked_relatively_and_nothing_is_fetched(small):
    run, html, page = small
    hrefs = {a["href"] for t, a in page.elements if t == "a" and "href" in a}
    assert {"./history.jsonl", "./results.json", "./test.json", "./junit.xml",
            "./nodes/n1.log", "./nodes/n2.log"} <= hrefs
    for h in hrefs:
        assert h.startswith("#") or (run / h).exists(), h
    assert not [a for t, a in page.elements if "src" in a or t == "link"], "no external resource"
    assert "http://" not in html and "https://" not in html


def test_hostile_values_render_as_text(tmp_path):
    run = small_run(tmp_path / "run", evil=EVIL)
    html = write_run_report(run).read_text()
    assert EVIL not in html
    page = Page(html)
    # every script element is ours: the JSON tooltip blocks and the one inline script
    kinds = [a.get("type", "js") for a, _ in page.scripts]
    assert kinds.count("js") == 1 and all(k in ("js", "application/json") for k in kinds)
    assert all("alert" not in text for a, text in page.scripts if a.get("type") != "application/json")
    text = page.visible
    assert text.count(EVIL) >= 4, "the evil string shows as text: title, command, anomaly, log"
    tips = json.loads([t for a, t in page.scripts if a.get("id") == "tips-checker-lww-1"][0])
    assert EVIL in tips["14"]["title"]


def test_unchecked_run_and_missing_test_json_still_show_a_verdict(tmp_path):
    run = small_run(tmp_path / "run", test=False)
    (run / "results.json").unlink()
    page = Page(write_run_report(run).read_text())
    assert page.with_class("v-unknown")
    assert "never checked" in page.visible
    junit = (run / "junit.xml").read_text()
    assert "never checked" in junit


def test_malformed_results_do_not_hide_the_verdict(tmp_path):
    run = small_run(tmp_path / "run")
    bad = Result(valid=False, checker="weird", anomalies=[
        {"type": "nonlinearizable", "ops": [999, "x"], "op": 12345,
         "linearization": [{"op": 10**9, "state": None}, "junk"], "candidates": [{"op": None}]},
        {"type": "lost-write", "ops": "not a list", "explanation": None},
        {"type": "stale-read", "ops": [12, 998]},  # one op of the history, one index of none
        {"no": "type"}],
        stats={"nested": {"deep": {"deeper": [1, {"x": 2}]}}, "flag": True},
        details={"histogram": {"1": 2, "2": "x"}, "curve": [0.5, float("nan")], "keys": "nope"})
    results = compose({"weird": bad}).to_dict()
    (run / "results.json").write_text(json.dumps(results))
    page = Page(write_run_report(run).read_text())
    assert page.with_class("v-invalid")
    text = page.visible
    # ("999" alone is no evidence: the stylesheet's "border-radius: 999px" is in the page)
    assert "1. nonlinearizable ops 999 2. lost-write" in text  # no op of the history: no timeline
    assert "Indices naming no client op of this history: 998." in text


def test_report_from_real_checkers(tmp_path):
    run = small_run(tmp_path / "run")
    h = read_jsonl(run / "history.jsonl")
    results = compose({"linearizable": linearizable(h, "register"), "lww": lww.check(h),
                       "staleness": staleness.check(h), "availability": availability.check(h)})
    (run / "results.json").write_text(json.dumps(results.to_dict(), default=str))
    html = write_run_report(run).read_text()
    page = Page(html)
    assert page.with_class("v-invalid")
    failing = [a for a in page.with_class("bar") if "r-failing" in a["class"]]
    assert {a["data-op"] for a in failing} == {"7", "22"}
    # the crashed write on x was in flight during the failing read: drawn as context
    tips = json.loads([t for a, t in page.scripts if a.get("id") == "tips-checker-linearizable-2"][0])
    assert "5" in tips and dict(tips["5"]["rows"])["outcome"] == "info"
    assert "t_visibility" in page.visible and "k_staleness.histogram" in page.visible


def test_report_command_and_bad_run_dir(tmp_path, capsys):
    run = small_run(tmp_path / "run")
    assert cli_exit(["report", str(run)]) == 0
    assert (run / "report.html").stat().st_size > 0 and (run / "junit.xml").exists()
    assert cli_exit(["report", str(tmp_path / "nope")]) == 254
    err = capsys.readouterr().err
    assert "is not a directory" in err and "Traceback" not in err
    (run / "results.json").write_text("{not json")
    assert cli_exit(["report", str(run)]) == 254
    assert "results.json is not valid JSON" in capsys.readouterr().err


def test_offline_history_report_links_the_history(tmp_path):
    h = History(validate(small_events()))
    src = tmp_path / "hist" / "h.jsonl"
    src.parent.mkdir()
    src.write_text("\n".join(json.dumps(e.to_dict()) for e in h.events))
    out = write_history_report(h, linearizable(h, "register"), tmp_path / "out" / "r.html",
                               source=src)
    page = Page(out.read_text())
    assert page.with_class("v-invalid")
    hrefs = [a["href"] for t, a in page.elements if t == "a" and a.get("href", "").endswith(".jsonl")]
    assert hrefs == ["../hist/h.jsonl"]
    assert "offline check of h.jsonl" in page.visible


def test_a_file_name_never_becomes_a_script_link(tmp_path):
    h = History(validate(small_events()))
    src = tmp_path / "javascript:alert(1)#.jsonl"
    src.write_text("\n".join(json.dumps(e.to_dict()) for e in h.events))
    out = write_history_report(h, linearizable(h, "register"), tmp_path / "r.html", source=src)
    hrefs = [a["href"] for t, a in Page(out.read_text()).elements if t == "a" and "jsonl" in a.get("href", "")]
    assert hrefs == ["./javascript%3Aalert%281%29%23.jsonl"]


def test_check_report_for_a_history_file_and_a_run_dir(tmp_path, capsys):
    run = small_run(tmp_path / "run")
    out = tmp_path / "reports" / "file.html"
    assert cli_exit(["check", str(run / "history.jsonl"), "--model", "register",
                     "--report", str(out)]) == 1
    assert f"report: {out}" in capsys.readouterr().out
    page = Page(out.read_text())
    assert page.with_class("v-invalid") and page.with_class("r-failing")
    assert ["../run/history.jsonl"] == [a["href"] for t, a in page.elements
                                         if t == "a" and a.get("href", "").endswith(".jsonl")]
    assert cli_exit(["check", str(run), str(run), "--report", str(out)]) == 254
    assert "--report writes one report" in capsys.readouterr().err
    # a stored run, judged again by its test's checkers (test.json as the harness writes it)
    test = json.loads((run / "test.json").read_text())
    (run / "test.json").write_text(json.dumps({"name": test["name"], "options": test}))
    again = tmp_path / "reports" / "again.html"
    # lww permits its nonlinearizable read and lost write; with no final reads, convergence
    # cannot be judged, so the verdict is unknown (exit 2), and the output says why
    assert cli_exit(["check", str(run), "--report", str(again)]) == 2
    out = capsys.readouterr().out
    assert "verdict: unknown (lww: no key with acknowledged writes has a final read" in out
    assert "1 lost-write permitted" in out
    page = Page(again.read_text())
    hrefs = {a["href"] for t, a in page.elements if t == "a" and "href" in a}
    assert {"../run/history.jsonl", "../run/nodes/n1.log"} <= hrefs
    assert "(checked again)" in page.visible


CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


@pytest.mark.skipif(not (CORPUS / "porcupine").is_dir(), reason="the shared corpus is absent")
def test_check_report_on_a_porcupine_log_centres_the_failing_window(tmp_path):
    out = tmp_path / "etcd.html"
    assert cli_exit(["check", str(CORPUS / "porcupine" / "jepsen" / "etcd_000.log"),
                     "--model", "cas-register", "--report", str(out)]) == 1
    page = Page(out.read_text())
    [failing] = page.with_class("r-failing")
    tips = json.loads([t for a, t in page.scripts if a.get("type") == "application/json"][0])
    assert failing["data-op"] in tips and len(tips) < 40, "the window, not the whole history"
    assert re.search(r"\d+ earlier steps, before the window", page.visible)


def policy_run(tmp_path: Path, expect: tuple[str, ...]) -> tuple[Path, Page]:
    """The small run judged by the verdict policy in lww mode, as the harness stores it."""
    from splitbrain.checkers import policy

    run = small_run(tmp_path / "run")
    h = read_jsonl(run / "history.jsonl")
    verdict = policy.verdict("lww", {"linearizable": linearizable(h, "register"),
                                     "staleness": staleness.check(h)}, expect)
    (run / "results.json").write_text(json.dumps(verdict.to_dict(), default=str))
    return run, Page(write_run_report(run).read_text())


def test_policy_verdict_shows_promises_and_permitted_anomalies_do_not_fail(tmp_path):
    run, page = policy_run(tmp_path, ())
    assert page.with_class("v-valid")
    text = page.visible
    # Neither lww promise is judged by linearizable or staleness results: not "no violation".
    assert "lww mode promises" in text and "no violation found" not in text
    assert text.count("not checked") >= 2 and "no checker of this run judges it" in text
    assert "permitted by the mode: 2 nonlinearizable" in text
    assert "every anomaly it found is one this mode permits" in text
    assert [a["class"] for a in page.with_class("pill") if "permitted" in a["class"]]
    junit = (run / "junit.xml").read_text()
    assert "<failure" not in junit and "permitted by the mode: 2 anomalies" in junit


def test_policy_violation_fails_the_checker_and_the_run(tmp_path):
    run, page = policy_run(tmp_path, ("linearizable",))
    assert page.with_class("v-invalid")
    text = page.visible
    assert "violated: --expect linearizable" in text
    assert "expected: linearizable violated" in text
    assert "violations: 2 nonlinearizable" in text
    assert '<failure message="2 anomalies: 2 nonlinearizable"' in (run / "junit.xml").read_text()


def test_staleness_is_shown_beside_the_pbs_prediction(tmp_path):
    from report_samples import MS, _write_run
    from splitbrain.history import Event

    events, t = [], 0
    for v in range(1, 61):  # eventual reads that lag the newest write by 0, 1 or 2 versions
        seen = max(1, v - v % 3)
        events += [Event("invoke", 0, "write", v, t, key="k"),
                   Event("ok", 0, "write", v, t + MS, key="k", meta={"version": v}),
                   Event("invoke", 1, "read", None, t + 3 * MS, key="k", consistency="eventual"),
                   Event("ok", 1, "read", seen, t + 4 * MS, key="k", consistency="eventual",
                         meta={"version": seen})]
        t += 5 * MS
    h = History(validate(events))
    run = _write_run(tmp_path / "run", events,
                     {"staleness": staleness.check(h, n=3, r=1, w=1, trials=200)}, None, {})
    page = Page(write_run_report(run).read_text())
    text = page.visible
    assert "k-staleness: P(a read is at least k versions behind), measured vs PBS (N=3, R=1, W=1)" in text
    # k = v % 3 behind, except the first two reads (only version 1 exists to be seen):
    # P(k >= 1) = 39/60, P(k >= 2) = 19/60; PBS for N=3, R=W=1: (2/3)^k
    assert re.search(r"k measured PBS 0 1 1 1 0\.65 0\.6667 2 0\.3167 0\.4444", text)
    assert "t-visibility: P(a read sees a write acknowledged t ms before it began)" in text
    assert "k_staleness.histogram" in text  # the distribution is a chart
    assert re.search(r"@v\d+", write_run_report(run).read_text())


@pytest.mark.skipif(not (CORPUS / "knossos").is_dir(), reason="the shared corpus is absent")
def test_knossos_history_without_times_skips_the_perf_plots(tmp_path):
    out = tmp_path / "knossos.html"
    edn = CORPUS / "knossos" / "cas-register" / "bad" / "rethink-fail-minimal.edn"
    assert cli_exit(["check", str(edn), "--model", "cas-register", "--initial", "0",
                     "--nil-reads", "unconstrained", "--report", str(out)]) == 1
    page = Page(out.read_text())
    assert page.with_class("r-failing")
    assert "carries no measured times" in page.visible
    assert "duration not measured" in page.visible
    assert not [a for t, a in page.elements if t == "svg" and a.get("aria-label") == "throughput"]


def test_a_history_without_measured_times_shows_event_order_not_nanoseconds(tmp_path):
    # As the importers number events: time = position. The timeline axis, its tooltips and the
    # fault table then say "event N", never "N ns".
    events = [dataclasses.replace(e, time=i) for i, e in enumerate(small_events())]
    h = History(validate(events))
    src = tmp_path / "h.jsonl"
    src.write_text("\n".join(json.dumps(e.to_dict()) for e in h.events))
    out = write_history_report(h, linearizable(h, "register"), tmp_path / "r.html", source=src)
    html = out.read_text()
    page = Page(html)
    assert page.with_class("r-failing")
    assert not re.search(r"\d ns\b", html), "event numbers shown as nanoseconds"
    assert "event 0" in page.visible, "the fault table starts at the first event"
    tips = json.loads(next(r[1] for r in page.scripts
                           if r[0].get("id") == "tips-checker-linearizable-1"))
    assert dict(tips["22"]["rows"])["invoked"] == "event 22"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 30) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(valid=st.sampled_from([True, False, "unknown", None, "junk"]),
       anomalies=st.lists(st.dictionaries(
           st.sampled_from(["type", "ops", "op", "explanation", "linearization", "candidates",
                            "key", "last_state", "prefix_length", "severity"]),
           json_values, max_size=6), max_size=4),
       stats=st.dictionaries(st.text(max_size=6), json_values, max_size=4),
       details=st.dictionaries(st.sampled_from(["keys", "pbs", "k_staleness", "t_visibility", "x"]),
                               json_values, max_size=4))
def test_any_result_shape_renders_with_its_verdict(tmp_path, valid, anomalies, stats, details):
    """Whatever a checker returns, the report renders and the verdict shows."""
    run = tmp_path / "run"
    if not run.exists():
        small_run(run)
    results = {"checker": "composed", "valid": valid, "anomalies": anomalies, "stats": {},
               "details": {"results": {"odd": {"checker": "odd", "valid": valid,
                                               "anomalies": anomalies, "stats": stats,
                                               "details": details}}}}
    (run / "results.json").write_text(json.dumps(results))
    page = Page(write_run_report(run).read_text())
    word = {True: "valid", False: "invalid"}.get(valid, "unknown")
    assert page.with_class(f"v-{word}") and word.upper() in page.visible


@pytest.mark.parametrize("workload", ["counter", "set"])
def test_a_dynamodb_run_that_lost_adds_shows_the_adds_promise_violated(tmp_path, workload):
    # Review tests-2026-11-30 item 4: the report once showed the adds promise "no violation
    # found" beside an extra "violated" promise that was not the mode's.
    from splitbrain.harness.testrun import summary
    from test_promises import history, judge

    run = tmp_path / "run"
    run.mkdir()
    (run / "history.jsonl").write_text("".join(
        json.dumps(ev.to_dict()) + "\n" for ev in history("dynamodb", workload, "lost").events))
    v = judge("dynamodb", workload, "lost")
    (run / "results.json").write_text(json.dumps(v.to_dict(), default=str))
    (run / "test.json").write_text(json.dumps({"options": {"mode": "dynamodb",
                                                           "workload": workload}}))
    text = Page(write_run_report(run).read_text()).visible
    assert "acknowledged atomic adds are never lost violated" in text
    assert ("strong reads and conditional writes are linearizable no checker of the "
            f"{workload} workload judges it; the register workload checks it not checked") in text
    assert "replicas converge after healing no violation found" in text
    assert "so never stale" not in text  # the extra promise row the old policy added
    assert "  violated: acknowledged atomic adds are never lost" in summary(v)
