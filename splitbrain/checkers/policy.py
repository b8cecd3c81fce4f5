"""The verdict policy: what each mode guarantees, which checkers judge a workload, and how their
results become the run's verdict (DESIGN.md, "Checkers").

A violated guarantee makes the run invalid. Anomalies the mode permits (lww's lost writes, stale
eventual reads, session-guarantee lapses) are counted and shown but fail the run only when the
user expects a stronger property (``--expect no-lost-writes``), which is how a CI pipeline asks
"is this store safe for my use".

The harness wires it with one call::

    from splitbrain.checkers import policy
    result = policy.judge(history, mode, workload, expect=("no-lost-writes",),
                          params=cluster_config.to_dict(),
                          extra={"linearizable": linearizability_result})

or in two steps, ``checkers = policy.checkers_for(mode, workload, params)``, run them (see
:func:`run`), then ``policy.verdict(mode, results, expect)``. ``extra`` carries results computed
elsewhere, under fixed names: ``"linearizable"`` (strong reads and conditional writes; a
guarantee in dynamodb mode, and the property ``--expect linearizable`` asks for).

The verdict is a :class:`Result` named ``verdict``: every checker's anomalies, each tagged with
``checker`` and ``severity`` (``violation`` or ``permitted``); ``stats.violations`` and
``stats.permitted`` (counts by anomaly type); ``details.guarantees`` (what the mode promises),
``details.expect``, ``details.unchecked`` (guarantees no checker judged), ``details.failing``
(the checkers whose results broke a promise or an expectation, though the anomaly that did may
be past the ones a checker lists) and ``details.results`` (every checker's result).
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from splitbrain.checkers import (availability, counter, lww, reads, session, sets, siblings,
                                 staleness)
from splitbrain.checkers.result import UNKNOWN, Result
from splitbrain.history import History

Checker = Callable[[History], Result]
LINEARIZABLE = "linearizable"

#: Anomaly types every mode forbids: reads of values never (successfully) written.
_NEVER_INVENTED = ("invented-value", "aborted-read", "future-read", "unexpected",
                   "counter-too-high")
#: Anomalies about staleness, which a mode may forbid for strong reads only.
_STALENESS = ("stale-read", "counter-too-low", "read-your-writes", "monotonic-reads")

#: ``--expect`` properties and the permitted anomaly types each turns into violations.
EXPECTATIONS: dict[str, tuple[str, ...]] = {
    "no-lost-writes": ("lost-write", "lost-update", "lost"),
    "read-your-writes": ("read-your-writes",),
    "monotonic-reads": ("monotonic-reads",),
    "no-stale-reads": _STALENESS,
    LINEARIZABLE: (),
}


@dataclass(frozen=True)
class Guarantees:
    """What a mode promises: ``violations`` maps each forbidden anomaly type to the promise it
    breaks; ``strong`` lists types forbidden only on reads with ``consistency="strong"``;
    ``linearizable``: strong reads and conditional writes are linearizable."""

    promises: tuple[str, ...]
    violations: dict[str, str]
    strong: tuple[str, ...] = ()
    linearizable: bool = False


_WRITTEN = "reads return only values that were written"
_CONVERGE = "replicas converge after healing"
MODES: dict[str, Guarantees] = {
    "dynamodb": Guarantees(
        promises=("strong reads and conditional writes are linearizable",
                  "eventual reads may be stale but return only values that were written",
                  "acknowledged atomic adds are never lost", _CONVERGE),
        violations={**dict.fromkeys(_NEVER_INVENTED, _WRITTEN),
                    "lost": "acknowledged atomic adds are never lost",
                    "not-converged": _CONVERGE},
        strong=_STALENESS, linearizable=True),
    "dynamo": Guarantees(
        promises=("no acknowledged write is lost unless a later write's context covered it",
                  "siblings are only ever concurrent writes", _WRITTEN, _CONVERGE),
        violations={**dict.fromkeys(_NEVER_INVENTED, _WRITTEN),
                    "lost-write": "no acknowledged write is lost unless a later write's "
                                  "context covered it",
                    "lost": "no acknowledged write is lost unless a later write's context "
                            "covered it",
                    "non-concurrent-siblings": "siblings are only ever concurrent writes",
                    "not-converged": _CONVERGE}),
    "lww": Guarantees(
        promises=(_WRITTEN, "replicas converge on the write with the highest timestamp"),
        violations={**dict.fromkeys(_NEVER_INVENTED, _WRITTEN),
                    "not-converged": "replicas converge on the write with the highest timestamp",
                    "not-highest-timestamp": "replicas converge on the write with the highest "
                                             "timestamp"}),
}


def parse_expect(names: Iterable[str]) -> tuple[str, ...]:
    """Validate ``--expect`` names; raises ValueError with one sentence naming the bad one."""
    out = tuple(names)
    for name in out:
        if name not in EXPECTATIONS:
            raise ValueError(f"--expect {name!r} is not a property splitbrain can check; use one "
                             f"of {', '.join(sorted(EXPECTATIONS))}")
    return out


def _mode(mode: str) -> Guarantees:
    if mode not in MODES:
        raise ValueError(f"mode {mode!r} has no verdict policy; use one of {', '.join(MODES)}")
    return MODES[mode]


def checkers_for(mode: str, workload: str, params: Mapping[str, Any] | None = None
                 ) -> dict[str, Checker]:
    """The eventual checkers that judge ``workload`` (``register``, ``set``, ``counter``, or any
    other name, which gets only availability) in ``mode``, by name. ``params`` is the cluster
    config as a dict (``n``, ``r``, ``w``, ``replication``), used for the PBS prediction: in
    dynamodb an eventual read asks one of ``replication`` replicas and a write is acknowledged by
    a majority. The linearizability checker is not among them: pass its result to
    :func:`verdict` (``extra`` of :func:`judge`)."""
    _mode(mode)
    p = dict(params or {})
    if mode == "dynamodb":
        n = p.get("replication", 3)
        quorum = {"n": n, "r": 1, "w": n // 2 + 1}
    else:
        quorum = {"n": p.get("n", 3), "r": p.get("r", 2), "w": p.get("w", 2)}
    out: dict[str, Checker] = {}
    if workload == "register":
        out[reads.NAME] = reads.check
        if mode == "dynamo":
            out[siblings.NAME] = siblings.check
        else:
            if mode == "lww":
                out[lww.NAME] = lww.check
            out[staleness.NAME] = lambda h: staleness.check(h, **quorum)
        out[session.NAME] = session.check
    elif workload == "set":
        out[sets.NAME] = sets.check
    elif workload == "counter":
        out[counter.NAME] = counter.check
    if mode == "lww" and workload in ("set", "counter"):
        out[lww.NAME] = lww.check  # lost read-modify-write updates
    out[availability.NAME] = availability.check
    return out


def run(checkers: Mapping[str, Checker], history: History) -> dict[str, Result]:
    """Run each checker; one that raises becomes an ``unknown`` result with the reason, so a
    checker bug never takes the tester down."""
    results: dict[str, Result] = {}
    # A big history is millions of long-lived objects; freezing them keeps the cyclic garbage
    # collector from rescanning all of them while the checkers allocate.
    gc.freeze()
    try:
        for name, fn in checkers.items():
            try:
                res = fn(history)
            except (Exception, MemoryError) as e:  # noqa: BLE001 - reported as unknown
                res = Result(UNKNOWN, reason=f"the {name} checker failed ({type(e).__name__}: "
                                             f"{e})")
            res.checker = res.checker or name
            results[name] = res
    finally:
        gc.unfreeze()
    return results


def judge(history: History, mode: str, workload: str, *, expect: Iterable[str] = (),
          params: Mapping[str, Any] | None = None, extra: Mapping[str, Result] | None = None
          ) -> Result:
    """Run the checkers for ``mode`` and ``workload`` on ``history`` and return the verdict."""
    results = run(checkers_for(mode, workload, params), history)
    results.update(extra or {})
    return verdict(mode, results, expect)


def verdict(mode: str, results: Mapping[str, Result], expect: Iterable[str] = ()) -> Result:
    """Judge named checker results by ``mode``'s guarantees and the ``expect``ed properties."""
    g = _mode(mode)
    expect = parse_expect(expect)
    expected_types = {t: f"--expect {name}" for name in expect for t in EXPECTATIONS[name]}
    lin_required = g.linearizable or LINEARIZABLE in expect
    # What a linearizability failure breaks: --expect linearizable judged every read (see
    # splitbrain.workloads.checks.with_expectations), the mode's promise only strong ones.
    lin_label = (f"--expect {LINEARIZABLE}" if LINEARIZABLE in expect
                 else "strong reads and conditional writes are linearizable" if g.linearizable
                 else None)
    anomalies: list[dict[str, Any]] = []
    violations: dict[str, int] = {}
    permitted: dict[str, int] = {}
    broken: dict[str, None] = {}
    failing: dict[str, None] = {}
    for name, res in results.items():
        counts = res.stats.get("anomaly_counts") or _count(res.anomalies)
        # Exact counts when the checker kept them (it may list only the first anomalies of a
        # type: a strong one past them must still count), else what it listed.
        strong_counts = (res.stats.get("strong_anomaly_counts") or {}
                         if res.stats.get("anomaly_counts")
                         else _count([a for a in res.anomalies if a.get("consistency") == "strong"]))
        for a in res.anomalies:
            why = _violates(g, name, a, expected_types, lin_label)
            anomalies.append({**a, "checker": name,
                              "severity": "violation" if why else "permitted"})
        for t, c in counts.items():
            strong = strong_counts.get(t, 0)
            why = _violates(g, name, {"type": t}, expected_types, lin_label)
            if why:
                violations[t] = violations.get(t, 0) + c
                broken[why] = None
                failing[name] = None
            elif strong and t in g.strong:
                violations[t] = violations.get(t, 0) + strong
                permitted[t] = permitted.get(t, 0) + c - strong
                broken["strong reads are linearizable, so never stale"] = None
                failing[name] = None
            else:
                permitted[t] = permitted.get(t, 0) + c
        if name == LINEARIZABLE and lin_label and res.valid is False and not res.anomalies:
            broken[lin_label] = None
            failing[name] = None
    unchecked = []
    if lin_required and LINEARIZABLE not in results:
        unchecked.append("strong reads and conditional writes are linearizable")
    reasons = [f"{n}: {r.reason}" for n, r in results.items() if r.valid == UNKNOWN]
    if LINEARIZABLE in expect and LINEARIZABLE not in results:
        reasons.append("--expect linearizable, but no linearizability result was supplied")
    # A checker's own False (e.g. session lapses) fails the run only through the policy above.
    if broken:
        valid: Any = False
        reason: str | None = "violated: " + "; ".join(broken)
    else:
        valid = UNKNOWN if reasons else True
        reason = "; ".join(reasons) or None
    return Result(
        valid=valid, anomalies=anomalies, reason=reason, checker="verdict",
        stats={"violations": violations, "permitted": permitted,
               "checkers": {n: r.stats for n, r in results.items()}},
        details={"mode": mode, "guarantees": list(g.promises), "expect": list(expect),
                 "unchecked": unchecked, "failing": list(failing),
                 "results": {n: r.to_dict() for n, r in results.items()}})


def _violates(g: Guarantees, checker: str, anomaly: dict[str, Any],
              expected: dict[str, str], lin_label: str | None) -> str | None:
    """The promise (or ``--expect``) an anomaly breaks, or None when it is permitted;
    ``lin_label`` is what a linearizability anomaly breaks (None: nothing)."""
    t = anomaly["type"]
    if checker == LINEARIZABLE:
        return lin_label
    if t in g.violations:
        return g.violations[t]
    if t in expected:
        return expected[t]
    if t in g.strong and anomaly.get("consistency") == "strong":
        return "strong reads are linearizable, so never stale"
    return None


def _count(anomalies: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for a in anomalies:
        out[a["type"]] = out.get(a["type"], 0) + 1
    return out
