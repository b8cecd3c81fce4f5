"""The eventual checkers on real runs of `splitbrain test` (short runs, one per claim of
DESIGN.md's table), each claim also checked against the raw history where that is simple."""

from __future__ import annotations

import pytest
from short_runs import short_run

pytestmark = pytest.mark.integration


def run(tmp_path, **opts):
    opts = {"nodes": 3, "time_limit": 8, "recovery": 2.0, "nemesis_interval": 1.0, **opts}
    outcome, history = short_run(tmp_path, **opts)
    return outcome, history, outcome.result.details["results"]


def test_lww_clock_skew_lists_each_lost_write_and_keeps_its_guarantee(tmp_path):
    outcome, history, results = run(tmp_path, mode="lww", workload="register",
                                    nemesis="clock", seed=11)
    lww = results["lww"]
    lost = [a for a in lww["anomalies"] if a["type"] == "lost-write"]
    assert lww["stats"]["lost_writes"] == len(lost) > 0
    ops = {op.index: op for op in history.ops()}
    for a in lost:  # each listed loss is one by the definition, from the raw history
        w, shadow = ops[a["ops"][0]], ops[a["ops"][1]]
        assert w.ok and shadow.ok and w.f == shadow.f == "write" and w.key == shadow.key
        assert shadow.ret < w.call and shadow.meta["ts"] > w.meta["ts"]
    assert lww["valid"] is True and results["reads"]["anomalies"] == []
    assert outcome.result.valid is True
    assert outcome.result.stats["permitted"]["lost-write"] == len(lost)


def test_dynamo_partitions_make_siblings_and_lose_no_write(tmp_path):
    outcome, history, results = run(tmp_path, mode="dynamo", workload="register",
                                    nemesis="partition", nodes=5, seed=12)
    sib = results["siblings"]
    assert sib["stats"]["reads_with_siblings"] > 0 and sib["stats"]["max_siblings"] >= 2
    assert sib["stats"]["lost_writes"] == 0 and sib["valid"] is True
    # Independently: every acknowledged write is in a final read or was read by a later write.
    ops = history.ops()
    final = {(op.key, v) for op in ops if op.ok and (op.meta or {}).get("final")
             for v in op.output}
    covered = {(op.key, v) for op in ops if op.f == "write" and op.type != "fail"
               for v in (op.meta or {}).get("read") or []}
    acked = [(op.key, op.value) for op in ops if op.f == "write" and op.ok]
    assert len(acked) > 50 and all(kv in final or kv in covered for kv in acked)
    assert outcome.result.valid is True


def test_dynamodb_eventual_reads_are_stale_but_never_invented(tmp_path):
    outcome, history, results = run(tmp_path, mode="dynamodb", workload="register",
                                    nemesis="partition", seed=13)
    st = results["staleness"]
    hist = {int(k): c for k, c in st["details"]["k_staleness"]["histogram"].items()}
    assert sum(hist.values()) == st["stats"]["reads"] > 50
    assert st["stats"]["stale_reads"] == sum(c for k, c in hist.items() if k > 0) > 0
    assert st["details"]["pbs"]["n"] == 3 and st["details"]["pbs"]["r"] == 1
    # Independently: an eventual read is stale when an ok write of a higher version was
    # acknowledged before it began.
    ops = history.ops()
    writes = [op for op in ops if op.f in ("write", "cas") and op.ok]
    stale = 0
    for rd in ops:
        if rd.f == "read" and rd.ok and rd.consistency == "eventual" \
                and not (rd.meta or {}).get("final"):
            seen = rd.meta.get("version") or 0 if rd.output is not None else 0
            stale += any(w.key == rd.key and w.ret < rd.call and w.meta["version"] > seen
                         for w in writes)
    assert stale == st["stats"]["stale_reads"]
    assert results["reads"]["valid"] is True and results["reads"]["anomalies"] == []
    assert outcome.result.valid is True
    assert outcome.result.stats["permitted"]["stale-read"] == stale
