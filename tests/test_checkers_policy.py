"""policy: which checkers run, guarantees per mode, --expect, and the verdict."""

import pytest
from eventual_histories import Builder

from splitbrain.checkers import policy
from splitbrain.checkers.result import Result


def lww_lost_write_history():
    b = Builder()
    b.op(0, "write", 1, t0=0, t1=1, meta={"ts": 9.0})
    b.op(1, "write", 2, t0=2, t1=3, meta={"ts": 2.0})
    b.op(1, "read", t0=4, t1=5, output=1, meta={"ts": 9.0})
    for i, node in enumerate(("n1", "n2")):
        b.op(9, "read", t0=10 + i, t1=10.5 + i, output=1, node=node,
             meta={"final": True, "ts": 9.0}, inv_meta={"final": True})
    return b.history()


def test_checkers_for_each_mode_and_workload():
    names = lambda m, w: sorted(policy.checkers_for(m, w))  # noqa: E731
    assert names("lww", "register") == ["availability", "lww", "quorum", "reads", "session",
                                        "staleness"]
    assert names("dynamo", "register") == ["availability", "quorum", "reads", "session",
                                           "siblings"]
    assert names("dynamodb", "register") == ["availability", "convergence", "reads", "session",
                                             "staleness"]
    assert names("dynamo", "set") == ["availability", "quorum", "set"]
    assert names("lww", "counter") == ["availability", "convergence", "counter", "lww", "quorum"]
    assert names("dynamodb", "bank") == ["availability"]
    with pytest.raises(ValueError, match="mode 'cassandra'"):
        policy.checkers_for("cassandra", "register")


def test_lww_lost_write_is_permitted_unless_expected():
    h = lww_lost_write_history()
    v = policy.judge(h, "lww", "register")
    assert v.valid is True and v.checker == "verdict"
    assert v.stats["permitted"]["lost-write"] == 1 and v.stats["violations"] == {}
    [a] = [a for a in v.anomalies if a["type"] == "lost-write"]
    assert a["severity"] == "permitted" and a["checker"] == "lww"
    strict = policy.judge(h, "lww", "register", expect=["no-lost-writes"])
    assert strict.valid is False and strict.stats["violations"] == {"lost-write": 1}
    assert "--expect no-lost-writes" in strict.reason


def test_declared_guarantee_violation_fails():
    b = Builder()
    b.op(0, "write", 1, t0=0, t1=1, meta={"read": [], "siblings": True})
    b.op(1, "write", 2, t0=2, t1=3, meta={"read": [], "siblings": True})
    b.op(9, "read", t0=10, t1=11, output=[2], node="n1", meta={"final": True, "siblings": True},
         inv_meta={"final": True})
    v = policy.judge(b.history(), "dynamo", "register")
    assert v.valid is False and v.stats["violations"] == {"lost-write": 1}
    assert "no acknowledged write is lost" in v.reason


def test_strong_stale_read_violates_dynamodb_eventual_does_not():
    b = Builder()
    b.op(0, "write", 1, t0=0, t1=1, meta={"version": 1})
    b.op(0, "write", 2, t0=2, t1=3, meta={"version": 2})
    b.op(1, "read", t0=4, t1=5, output=1, consistency="eventual", meta={"version": 1})
    for i, node in enumerate(("n1", "n2")):
        b.op(9, "read", t0=10 + i, t1=10.5 + i, output=2, node=node, consistency="eventual",
             meta={"final": True, "version": 2}, inv_meta={"final": True})
    eventual = policy.judge(b.history(), "dynamodb", "register",
                            extra={"linearizable": Result(True, checker="linearizable")})
    assert eventual.valid is True and eventual.stats["permitted"]["stale-read"] == 1
    assert eventual.details["unchecked"] == []
    no_lin = policy.judge(b.history(), "dynamodb", "register")
    assert no_lin.details["unchecked"] == ["strong reads and conditional writes are linearizable"]
    b.op(2, "read", t0=6, t1=7, output=1, consistency="strong", meta={"version": 1})
    from splitbrain.checkers import session, staleness
    results = {"staleness": staleness.check(b.history(), consistency=None),
               "session": session.check(b.history())}
    v = policy.verdict("dynamodb", results)
    assert v.valid is False and v.stats["violations"]["stale-read"] == 1
    assert v.stats["permitted"]["stale-read"] == 1


def test_linearizability_result_is_a_dynamodb_guarantee_and_an_expectation_elsewhere():
    bad = Result(False, [{"type": "nonlinearizable", "ops": [1], "explanation": "x"}],
                 checker="linearizable")
    assert policy.verdict("dynamodb", {"linearizable": bad}).valid is False
    assert policy.verdict("lww", {"linearizable": bad}).valid is True
    assert policy.verdict("lww", {"linearizable": bad}, ["linearizable"]).valid is False
    missing = policy.verdict("lww", {}, ["linearizable"])
    assert missing.valid == "unknown"
    # lww's register workload judges every read for --expect linearizable
    assert missing.reason == ("--expect linearizable is not checked: no checker of this run "
                              "judges it; the register workload checks it")


def test_checker_crash_is_unknown_not_a_crash():
    def boom(history):
        raise RuntimeError("bad shape")
    results = policy.run({"boom": boom}, lww_lost_write_history())
    assert results["boom"].valid == "unknown" and "bad shape" in results["boom"].reason
    v = policy.verdict("lww", results)
    assert v.valid == "unknown" and "boom" in v.reason


def test_parse_expect():
    assert policy.parse_expect(["no-lost-writes", "monotonic-reads"]) == (
        "no-lost-writes", "monotonic-reads")
    with pytest.raises(ValueError, match="'safe' is not a property"):
        policy.parse_expect(["safe"])


def test_verdict_is_serialisable():
    import json
    v = policy.judge(lww_lost_write_history(), "lww", "register", params={"n": 3, "r": 1, "w": 1})
    assert json.loads(json.dumps(v.to_dict()))["details"]["results"]["staleness"]["checker"] == \
        "staleness"


def session_lapses_listing_only_the_eventual_one() -> Result:
    """Two read-your-writes lapses, eventual then strong, by a session checker that lists one
    anomaly of each type (the strong lapse is counted, not listed)."""
    from splitbrain.checkers import session
    b = Builder()
    b.op(0, "write", 1, t0=0, t1=1, meta={"version": 1})
    b.op(0, "write", 2, t0=2, t1=3, meta={"version": 2})
    b.op(0, "read", t0=4, t1=5, output=1, consistency="eventual", meta={"version": 1})
    b.op(0, "read", t0=6, t1=7, output=1, consistency="strong", meta={"version": 1})
    return session.check(b.history(), limit=1)


def test_a_strong_lapse_past_the_kept_anomalies_still_violates_dynamodb():
    # Anomalies beyond a checker's limit are counted, not listed: a strong read's lapse after
    # the kept eventual ones must still fail the run.
    res = session_lapses_listing_only_the_eventual_one()
    assert [a["consistency"] for a in res.anomalies] == ["eventual"]
    assert res.stats["anomaly_counts"] == {"read-your-writes": 2}
    v = policy.verdict("dynamodb", {"session": res,
                                    "linearizable": Result(True, checker="linearizable")})
    assert v.valid is False and v.stats["violations"] == {"read-your-writes": 1}
    assert v.stats["permitted"] == {"read-your-writes": 1}


def test_the_report_fails_a_checker_whose_violation_is_past_its_listed_anomalies():
    from splitbrain.reports.run import RunData

    res = session_lapses_listing_only_the_eventual_one()
    v = policy.verdict("dynamodb", {"session": res,
                                    "linearizable": Result(True, checker="linearizable")})
    assert v.details["failing"] == ["session"]
    b = Builder()
    b.op(0, "write", 1, t0=0, t1=1, meta={"version": 1})
    run = RunData(b.history(), v.to_dict())
    assert run.checker_valid("session") is False and run.checker_valid("linearizable") is True


def states(v: Result) -> dict[str, str]:
    return {p["text"]: p["state"] for p in v.details["promises"]}


def test_lost_atomic_adds_break_the_adds_promise_not_staleness():
    # Review tests-2026-11-30 item 4: 5 acknowledged adds, final reads see 2 of them.
    b = Builder()
    for i in range(5):
        b.op(i, "add", 1, t0=i, t1=i + 0.5)
    b.op(7, "read", t0=6, t1=7, output=5, consistency="strong")
    for i, node in enumerate(("n1", "n2", "n3")):
        b.op(9, "read", t0=10 + i, t1=10.5 + i, output=2, node=node, consistency="eventual",
             meta={"final": True}, inv_meta={"final": True})
    v = policy.judge(b.history(), "dynamodb", "counter")
    assert v.valid is False and v.reason == "violated: acknowledged atomic adds are never lost"
    assert states(v) == {
        "strong reads and conditional writes are linearizable": "not checked",
        "eventual reads may be stale but return only values that were written":
            "no violation found",
        "acknowledged atomic adds are never lost": "violated",
        "replicas converge after healing": "no violation found"}
    assert v.stats["violations"] == {"lost-add": 1}


def test_a_strong_stale_read_breaks_the_linearizability_promise_of_the_mode():
    b = Builder()
    b.op(0, "add", 3, t0=0, t1=1)
    b.op(1, "read", t0=2, t1=3, output=0, consistency="strong")
    for i, node in enumerate(("n1", "n2")):
        b.op(9, "read", t0=10 + i, t1=10.5 + i, output=3, node=node, consistency="eventual",
             meta={"final": True}, inv_meta={"final": True})
    v = policy.judge(b.history(), "dynamodb", "counter")
    assert v.reason == "violated: strong reads and conditional writes are linearizable"
    assert [p["text"] for p in v.details["promises"] if p["state"] == "violated"] == [
        "strong reads and conditional writes are linearizable"]


def test_a_register_run_shows_no_promise_about_adds():
    v = policy.verdict("dynamodb", {}, workload="register")
    assert "acknowledged atomic adds are never lost" not in states(v)
    assert "acknowledged atomic adds are never lost" in states(
        policy.verdict("dynamodb", {}, workload="set"))


def test_an_unchecked_promise_says_which_workload_checks_it():
    v = policy.verdict("dynamodb", {"set": Result(True, checker="set")}, workload="set")
    [lin] = [p for p in v.details["promises"] if p["text"].startswith("strong reads")]
    assert lin["state"] == "not checked"
    assert lin["note"] == ("no checker of the set workload judges it; the register workload "
                           "checks it")
    assert v.valid is True  # a promise this workload cannot judge does not make it unknown


def test_a_promise_whose_checker_is_unknown_is_not_checked():
    v = policy.verdict("dynamo", {"siblings": Result("unknown", reason="no final read",
                                                     checker="siblings")}, workload="register")
    assert states(v)["siblings are only ever concurrent writes"] == "not checked"
    [p] = [p for p in v.details["promises"] if p["text"].startswith("siblings")]
    assert "siblings checker's verdict is unknown (no final read)" in p["note"]


def test_an_expectation_nothing_checks_makes_the_verdict_unknown():
    v = policy.verdict("dynamo", {"set": Result(True, checker="set")},
                       ["read-your-writes"], workload="set")
    assert v.valid == "unknown"
    assert v.reason == ("--expect read-your-writes is not checked: no checker of the set "
                        "workload judges it; the register workload checks it")
    [e] = v.details["expectations"]
    assert e == {"name": "read-your-writes", "state": "not checked", "checkers": [],
                 "note": "no checker of the set workload judges it; the register workload "
                         "checks it"}
