"""junit.xml: one test case per checker; failures carry the anomalies' summary."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from report_samples import EVIL, small_run
from splitbrain.checkers.result import Result, compose
from splitbrain.reports import junit, write_run_report


def cases(xml: str) -> tuple[ET.Element, dict[str, ET.Element]]:
    root = ET.fromstring(xml.encode())
    suite = root.find("testsuite")
    assert suite is not None
    return suite, {c.get("name"): c for c in suite.findall("testcase")}


def test_one_case_per_checker_failure_message_is_the_anomalies_summary(tmp_path):
    run = small_run(tmp_path / "run")
    write_run_report(run)
    suite, by_name = cases((run / "junit.xml").read_text())
    assert set(by_name) == {"linearizable", "lww", "counter"}
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "1", "1")
    fail = by_name["linearizable"].find("failure")
    assert fail is not None and fail.get("message") == "1 anomaly: 1 nonlinearizable"
    assert "read of x by p2 returned 1" in fail.text
    assert by_name["lww"].find("failure") is None and by_name["lww"].find("error") is None
    err = by_name["counter"].find("error")
    assert err is not None and err.get("message") == "ran out of its 10 s time budget"


def test_summary_uses_exact_counts_beyond_the_kept_anomalies():
    kept = [{"type": "lost-write", "ops": [i], "explanation": f"lost {i}"} for i in range(3)]
    r = Result(False, kept + [{"type": "stale-read", "ops": [9], "explanation": "stale"}],
               stats={"anomaly_counts": {"lost-write": 1500, "stale-read": 1}},
               checker="lww").to_dict()
    _, by_name = cases(junit.render({"lww": r}, suite="s"))
    fail = by_name["lww"].find("failure")
    assert fail.get("message") == "1501 anomalies: 1500 lost-write, 1 stale-read"
    assert fail.text.count("\n") == 3


def test_hostile_and_control_characters_stay_well_formed():
    r = Result(False, [{"type": EVIL, "ops": [1], "explanation": "bad \x00\x1b value " + EVIL}],
               checker="c").to_dict()
    xml = junit.render(compose({EVIL: Result.from_dict(r)}).details["results"], suite=EVIL)
    suite, by_name = cases(xml)
    assert suite.get("name") == EVIL
    fail = by_name[EVIL].find("failure")
    assert EVIL in fail.get("message") and "bad \ufffd\ufffd value" in fail.text
    assert "<script>" not in xml


def test_a_run_never_checked_is_an_error_not_zero_tests():
    suite, by_name = cases(junit.render({}, suite="s"))
    assert suite.get("errors") == "1" and "never checked" in by_name["results"].find("error").get("message")
