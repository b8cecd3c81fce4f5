"""The eventual checkers on generated histories: the fast sweeps agree with brute force on small
ones, and every checker stays near-linear on larger ones (the 1,000,000-op figures come from
benchmarks/checker.py)."""

import time

import pytest
from eventual_histories import generate

from splitbrain.checkers import counter, lww, policy, staleness
from splitbrain.checkers.keyed import read_values
from splitbrain.db import versions
from splitbrain.history import Op


def store_keeps(b: Op, over: Op) -> bool:
    """Whether the lww store, merging write ``b`` with write ``over``, keeps ``b``: decided by
    the store's own merge (timestamps, then its tie-break), not by the checker's comparison."""
    mine, other = ([w.meta["ts"], w.node, w.value] for w in (b, over))
    return versions.lww_merge([other], [mine]) == [mine]


@pytest.mark.parametrize("ts_resolution", [None, 0.001], ids=["exact-ts", "1-ms-ts"])
def test_lost_writes_match_brute_force(ts_resolution):
    h = generate("lww", 3000, seed=7, ops_per_key=60, ts_resolution=ts_resolution)
    ops = h.ops()
    writes = [op for op in ops if op.f == "write" and op.ok]
    expected = {a.index for a in writes
                if any(b.key == a.key and b.ret < a.call and store_keeps(b, over=a)
                       for b in writes)}
    lost = [a for a in lww.check(h).anomalies if a["type"] == "lost-write"]
    assert {a["ops"][0] for a in lost} == expected and expected
    ties = [a for a in lost if a["ts"] == a["overwriting_ts"]]
    assert bool(ties) == bool(ts_resolution), "a coarse clock must produce lost writes on ties"


def test_k_staleness_matches_brute_force():
    h = generate("dynamodb", 3000, seed=8, ops_per_key=60)
    ops = h.ops()
    writes = [op for op in ops if op.f == "write" and op.ok]
    expected = {}
    for rd in ops:
        if rd.f == "read" and rd.ok and rd.consistency == "eventual" and not rd.meta.get("final"):
            seen = rd.meta.get("version", 0) if read_values(rd) else 0
            k = sum(1 for w in writes if w.key == rd.key and w.ret < rd.call
                    and w.meta["version"] > seen)
            expected[k] = expected.get(k, 0) + 1
    hist = staleness.check(h).details["k_staleness"]["histogram"]
    assert {int(k): c for k, c in hist.items()} == expected and len(expected) > 1


def test_counter_bounds_match_brute_force():
    h = generate("counter", 3000, seed=9)
    ops = h.ops()
    adds = [op for op in ops if op.f == "add" and op.type != "fail"]
    expected = set()
    for rd in ops:
        if rd.f == "read" and rd.ok:
            lower = sum(a.value for a in adds if a.ok and a.ret < rd.call)
            upper = sum(a.value for a in adds if a.call < rd.ret)
            if not lower <= rd.output <= upper:
                expected.add(rd.index)
    got = {a["ops"][0] for a in counter.check(h).anomalies}
    assert got == expected and expected  # lagging eventual reads are too low


CASES = [("lww", "lww", "register"), ("dynamodb", "dynamodb", "register"),
         ("dynamo", "dynamo", "register"), ("set", "dynamo", "set"),
         ("counter", "lww", "counter")]


@pytest.mark.parametrize("kind,mode,workload", CASES)
def test_checkers_stay_fast_and_judge_generated_runs(kind, mode, workload):
    h = generate(kind, 15000, seed=1)
    for name, fn in policy.checkers_for(mode, workload, {"n": 3, "r": 2, "w": 2}).items():
        t = time.perf_counter()
        r = fn(h)
        assert time.perf_counter() - t < 10, f"{name} is too slow on 15k ops"
        assert r.valid != "unknown", r.reason
    v = policy.judge(h, mode, workload)
    # The generator's store keeps every promise of its mode; what it permits shows up.
    assert v.valid is True, v.reason
    permitted = v.stats["permitted"]
    if kind == "lww":
        assert permitted["lost-write"] > 0
    if kind in ("dynamodb", "set"):
        assert permitted["stale-read"] > 0
    if kind == "dynamo":
        assert v.stats["checkers"]["siblings"]["reads_with_siblings"] > 0
