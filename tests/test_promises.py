"""Every promise the verdict shows is judged, and every --expect is judged or said not to be.

For each mode x workload a small clean history in the shape the harness records is judged with
the run's own checkers (splitbrain.harness.runner.check, linearizability included). Every
promise it shows is either "no violation found" with the checkers that ran and could find one,
or "not checked" naming the workload that would check it. Then a history poisoned against each
checked promise must show that promise violated, and a history poisoned against each --expect
must show it violated or make the verdict unknown with the expectation not checked."""

from __future__ import annotations

import pytest
from eventual_histories import Builder

from splitbrain.checkers import policy
from splitbrain.harness.runner import check
from splitbrain.history import History
from splitbrain.workloads import make

MODES = ("dynamodb", "dynamo", "lww")
NODES = ("n1", "n2", "n3")
PAIRS = [(m, w) for m in MODES for w in policy.WORKLOADS]

#: The poisons that break each promise (by its text): a checked promise must be violated by
#: every one of them.
BREAKS = {
    "strong reads and conditional writes are linearizable": ("lin",),
    "eventual reads may be stale but return only values that were written": ("invented",),
    "acknowledged atomic adds are never lost": ("lost",),
    "replicas converge after healing": ("diverged",),
    "no acknowledged write is lost unless a later write's context covered it": ("lost",),
    "siblings are only ever concurrent writes": ("siblings",),
    "reads return only values that were written": ("invented",),
    "replicas converge on the write with the highest timestamp": ("diverged", "highest-ts"),
    "with R+W>N, a read outside fault windows sees every write acknowledged before it began":
        ("stale",),
    "reads wait for R replicas and writes for W": ("broken",),
}
#: The poison each --expect is checked against.
EXPECT_POISON = {"no-lost-writes": "lost", "read-your-writes": "ryw",
                 "monotonic-reads": "monotonic", "no-stale-reads": "stale",
                 policy.LINEARIZABLE: "lin"}


def history(mode: str, workload: str, poison: str | None = None) -> History:
    b = Builder()
    {"register": _register, "set": _set, "counter": _counter}[workload](b, mode, poison)
    if mode != "dynamodb":
        _count_replicas(b, broken=poison == "broken")
    return b.history()


def _count_replicas(b: Builder, *, broken: bool) -> None:
    """Dynamo and lww replies say how many replicas answered (``meta.quorum``); with
    ``broken`` the first client read had one answer where R is 2."""
    for _, _, ev in sorted(b._events, key=lambda e: (e[0], e[1])):
        if ev.type == "ok" and ev.process != "nemesis":
            answered = 2
            if broken and ev.f == "read":
                answered, broken = 1, False
            ev.meta = {**(ev.meta or {}),
                       "quorum": {"needed": 2, "answered": answered, "fallbacks": 0}}


def _read(b: Builder, mode: str, p, output, version, t, *, strong=False, node=None, final=False):
    """A read returning ``output`` (a register value, a set or a number) written at
    ``version`` (its position, also lww's ts)."""
    meta: dict = {}
    if mode == "dynamodb":
        meta["version"] = version
        if final:
            meta["replica"] = {"name": node, "partition": 0, "applied": 2}
    elif mode == "lww":
        meta["ts"] = float(version)
    else:
        meta["siblings"] = True
    if final:
        meta["final"] = True
    consistency = "strong" if strong else "eventual"
    b.op(p, "read", t0=t, t1=t + 0.5, output=output, node=node, consistency=consistency,
         meta=meta, inv_meta={"final": True} if final else None)


def _finals(b: Builder, mode: str, outputs: list, versions: list) -> None:
    for i, (node, out, v) in enumerate(zip(NODES, outputs, versions)):
        _read(b, mode, 90 + i, out, v, 100 + i, node=node, final=True)


def _register(b: Builder, mode: str, poison: str | None) -> None:
    wrap = (lambda v: [v]) if mode == "dynamo" else (lambda v: v)  # noqa: E731
    reads = {1: [], 2: [] if poison == "lost" else [1]}  # dynamo: what each write read
    ts = {1: 9.0, 2: 2.0} if poison == "lost" and mode == "lww" else {1: 1.0, 2: 2.0}
    for v, t in ((1, 0), (2, 2)):
        meta = ({"version": v} if mode == "dynamodb" else {"ts": ts[v]} if mode == "lww"
                else {"read": reads[v], "siblings": True})
        b.op(0, "write", v, t0=t, t1=t + 1, meta=meta)
    strong = mode == "dynamodb"
    if poison == "lin":
        _read(b, mode, 1, wrap(1), 1, 4, strong=True)  # after write 2 was acknowledged
    elif poison == "ryw":
        _read(b, mode, 0, wrap(1), 1, 4)  # the writer's own read misses its write
    elif poison == "monotonic":
        _read(b, mode, 1, wrap(2), 2, 4)
        _read(b, mode, 1, wrap(1), 1, 5)
    elif poison == "stale":
        _read(b, mode, 1, wrap(1), 1, 4)  # another client, after write 2 was acknowledged
    elif poison == "siblings":
        _read(b, mode, 1, [1, 2], 2, 4)  # write 2 covered 1, yet both are siblings
    else:
        _read(b, mode, 1, wrap(2), 2, 4, strong=strong)
    if poison == "invented":
        _read(b, mode, 2, wrap(99), 3, 6)
    # lww "lost": write 1's higher ts wins; dynamodb "lost": every replica lost write 2.
    lost = poison == "lost" and mode != "dynamo"
    final, version = (1, 1) if poison == "highest-ts" or lost else (2, 2)
    if mode == "lww" and poison == "lost":
        version = 9
    outs = [wrap(final)] * 3
    if poison == "diverged":
        outs[2] = wrap(1)
    _finals(b, mode, outs, [version, version, 1 if poison == "diverged" else version])


def _rmw_meta(mode: str, read, wrote, ts: float) -> dict:
    """A read-modify-write's completion meta (lww, dynamo): what it read and wrote."""
    if mode == "lww":
        return {"read": [read] if read is not None else [], "wrote": wrote, "ts": ts}
    return {"read": [read] if read is not None else [], "siblings": True}


def _set(b: Builder, mode: str, poison: str | None) -> None:
    for e, t, before in ((1, 0, None), (2, 2, [1])):
        meta = None if mode == "dynamodb" else _rmw_meta(mode, before, sorted((before or []) + [e]),
                                                         float(e))
        b.op(0, "add", e, t0=t, t1=t + 1, meta=meta)
    if poison in ("stale", "ryw"):
        _read(b, mode, 0 if poison == "ryw" else 1, [2], 2, 4)  # misses acknowledged 1
        _read(b, mode, 1, [1, 2], 2, 5)
    elif poison == "monotonic":
        _read(b, mode, 1, [1, 2], 2, 4)
        _read(b, mode, 1, [2], 2, 5)
    else:
        strong = mode == "dynamodb" and poison == "lin"
        _read(b, mode, 1, [2] if poison == "lin" else [1, 2], 2, 4, strong=strong)
    if poison == "invented":
        _read(b, mode, 2, [1, 2, 99], 2, 6)
    final = [1] if poison == "highest-ts" else [2] if poison == "lost" else [1, 2]
    version = 1 if poison == "highest-ts" else 2
    outs = [final] * 3
    if poison == "diverged":
        outs[2] = [1]
    _finals(b, mode, outs, [version] * 3)


def _counter(b: Builder, mode: str, poison: str | None) -> None:
    for d, t, before in ((2, 0, None), (3, 2, 2)):
        meta = None if mode == "dynamodb" else _rmw_meta(mode, before, (before or 0) + d,
                                                         float(t + 1))
        b.op(0, "add", d, t0=t, t1=t + 1, meta=meta)
    strong = mode == "dynamodb"
    if poison in ("stale", "ryw", "lin"):
        _read(b, mode, 0 if poison == "ryw" else 1, 2, 1, 4, strong=strong and poison == "lin")
    elif poison == "monotonic":
        _read(b, mode, 1, 5, 2, 4)
        _read(b, mode, 1, 2, 1, 5)
    else:
        _read(b, mode, 1, 5, 2, 4, strong=strong)
    if poison == "invented":
        _read(b, mode, 2, 50, 2, 6)
    final, version = (2, 1) if poison in ("highest-ts", "lost") else (5, 3)
    outs = [final] * 3
    if poison == "diverged":
        outs[2] = 2
    _finals(b, mode, outs, [version] * 3)


#: The cluster's timers (ms), from which the quorum checker's settle time after a heal follows.
TIMING = {"failure_timeout_ms": 1000, "gossip_interval_ms": 200, "hint_interval_ms": 500,
          "request_timeout_ms": 900}


def judge(mode: str, workload: str, poison: str | None = None, expect: tuple[str, ...] = ()):
    w = make(workload, mode)
    return check(history(mode, workload, poison), w, expect=expect,
                 params={"n": 3, "r": 2, "w": 2, "replication": 3, **TIMING})


def states(v) -> dict[str, str]:
    return {p["text"]: p["state"] for p in v.details["promises"]}


def checked_promises() -> list[tuple[str, str, str, str]]:
    out = []
    for mode, workload in PAIRS:
        for text, state in states(judge(mode, workload)).items():
            if state == policy.NO_VIOLATION:
                out += [(mode, workload, text, poison) for poison in BREAKS[text]]
    return out


@pytest.mark.parametrize("mode,workload", PAIRS)
def test_every_promise_shown_maps_to_a_checker_that_ran(mode, workload):
    v = judge(mode, workload)
    assert v.valid is True, v.reason
    ran = set(v.details["results"])
    assert v.details["promises"], "a mode with no promise shown"
    for p in v.details["promises"]:
        assert p["text"] in BREAKS, f"a promise this test does not know: {p['text']!r}"
        if p["state"] == policy.NO_VIOLATION:
            assert p["checkers"] and set(p["checkers"]) <= ran, p
        else:
            assert p["state"] == policy.NOT_CHECKED, p
            assert p["note"].startswith(f"no checker of the {workload} workload judges it; ")
            assert p["text"] in v.details["unchecked"]
    adds = "acknowledged atomic adds are never lost"
    assert (adds in states(v)) == (mode == "dynamodb" and workload != "register")


@pytest.mark.parametrize("mode,workload,promise,poison", checked_promises())
def test_a_poisoned_history_breaks_each_checked_promise(mode, workload, promise, poison):
    v = judge(mode, workload, poison)
    assert v.valid is False and states(v)[promise] == policy.VIOLATED, (v.reason, states(v))


@pytest.mark.parametrize("expectation", sorted(policy.EXPECTATIONS))
@pytest.mark.parametrize("mode,workload", PAIRS)
def test_an_expectation_is_violated_by_its_poison_or_not_checked(mode, workload, expectation):
    v = judge(mode, workload, EXPECT_POISON[expectation], expect=(expectation,))
    [e] = v.details["expectations"]
    if e["state"] == policy.NOT_CHECKED:
        assert v.valid in ("unknown", False)  # unknown, unless a promise broke anyway
        assert f"--expect {expectation} is not checked" in v.reason or v.valid is False
        assert e["note"].startswith(f"no checker of the {workload} workload judges it; ")
    else:
        assert e["state"] == policy.VIOLATED and v.valid is False, (e, v.reason)


def test_the_known_gaps_are_reported_as_not_checked():
    # What no checker of these workloads can see (review tests-2026-11-30, 4a and 4b).
    gaps = {("dynamo", "set"): "siblings are only ever concurrent writes",
            ("dynamo", "counter"): "no acknowledged write is lost unless a later write's "
                                   "context covered it",
            ("dynamodb", "set"): "strong reads and conditional writes are linearizable"}
    for (mode, workload), text in gaps.items():
        assert states(judge(mode, workload))[text] == policy.NOT_CHECKED
    for expectation, workload in (("read-your-writes", "set"), ("monotonic-reads", "counter")):
        v = judge("dynamo", workload, EXPECT_POISON[expectation], expect=(expectation,))
        assert v.valid == "unknown" and v.details["expectations"][0]["state"] == "not checked"
    # A stale register read with no fault in force breaks the strict quorum's promise (the
    # quorum checker), but no-stale-reads, about every read, stays unjudged on a register run.
    v = judge("dynamo", "register", "stale", expect=("no-stale-reads",))
    assert v.valid is False and v.reason.startswith("violated: with R+W>N, a read outside "
                                                    "fault windows")
    assert v.details["expectations"][0]["state"] == "not checked"
    assert v.details["expectations"][0]["note"] == ("no checker of the register workload judges "
                                                    "it; the set and counter workloads check it")
