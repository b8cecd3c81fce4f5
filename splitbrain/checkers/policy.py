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
:func:`run`), then ``policy.verdict(mode, results, expect, workload=workload)``. ``extra``
carries results computed elsewhere, under fixed names: ``"linearizable"`` (strong reads and
conditional writes; a guarantee in dynamodb mode, and the property ``--expect linearizable``
asks for).

The verdict is a :class:`Result` named ``verdict``: every checker's anomalies, each tagged with
``checker`` and ``severity`` (``violation`` or ``permitted``; a violation also names the
``promise``, or the ``--expect``, it breaks); ``stats.violations`` and
``stats.permitted`` (exact counts by anomaly type, however many a checker listed);
``details.promises`` (each promise of the mode that applies to the workload, with its
``state``: ``violated``, ``no violation found`` only when a checker of this run could have found
one, else ``not checked`` with a ``note`` naming the workload that would check it),
``details.expectations`` (the same for each ``--expect``; one nothing judged makes the verdict
unknown), ``details.violated`` (the promises and expectations broken, as ``reason`` lists them),
``details.guarantees`` and ``details.unchecked`` (the promises' texts, and those not
checked), ``details.failing`` (the checkers whose results broke a promise or an expectation,
though the anomaly that did may be past the ones a checker lists), ``details.counts`` (per
checker, exact ``violations`` and ``permitted`` counts by type) and ``details.results`` (every
checker's result).
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from splitbrain.checkers import (availability, convergence, counter, lww, quorum, reads,
                                 session, sets, siblings, staleness)
from splitbrain.checkers.result import UNKNOWN, Result
from splitbrain.history import History

Checker = Callable[[History], Result]
LINEARIZABLE = "linearizable"
#: The linearizability checker over every read, eventual ones included, which a run gets only
#: for ``--expect linearizable`` (a mode promises it of strong reads only): its failures break
#: the expectation, never a promise.
LINEARIZABLE_EVERY_READ = "linearizable-every-read"
#: The workloads whose history shapes the policy has checkers for (``splitbrain.workloads``
#: builds them; a test keeps the two lists equal).
WORKLOADS = ("register", "set", "counter")

#: Every anomaly type each eventual checker can report, by checker name: what a checker that
#: ran (with a verdict other than unknown) vouches for.
EMITS: dict[str, tuple[str, ...]] = {m.NAME: m.ANOMALIES for m in (
    availability, convergence, counter, lww, quorum, reads, session, sets, siblings, staleness)}

#: Anomaly types every mode forbids: reads of values never (successfully) written.
_NEVER_INVENTED = ("invented-value", "aborted-read", "future-read", "unexpected",
                   "counter-too-high")
#: Anomalies about staleness, which a mode may forbid for strong reads only.
_STALENESS = ("stale-read", "counter-too-low", "read-your-writes", "monotonic-reads")
_LOST = ("lost-write", "lost-update", "lost", "lost-add", "counter-lost-adds", "lost-version")
#: The states of a promise or expectation in a verdict's ``details``.
VIOLATED, NO_VIOLATION, NOT_CHECKED = "violated", "no violation found", "not checked"

#: ``--expect`` properties and the permitted anomaly types each turns into violations.
EXPECTATIONS: dict[str, tuple[str, ...]] = {
    "no-lost-writes": _LOST,
    "read-your-writes": ("read-your-writes",),
    "monotonic-reads": ("monotonic-reads",),
    "no-stale-reads": _STALENESS,
    LINEARIZABLE: (),
}
#: The types whose checkers judge an expectation as a whole, where not all of its types do:
#: session lapses are stale reads, but the session checker sees only a client's own writes.
_JUDGED_BY = {"no-stale-reads": ("stale-read", "counter-too-low")}


@dataclass(frozen=True)
class Promise:
    """One guarantee of a mode. ``breaks``: the anomaly types that violate it on any op;
    ``strong``: the types that violate it only on ``consistency="strong"`` reads; ``also``:
    types that violate it but whose checkers see only part of it; ``linearizable``: a
    linearizability result judges it; ``workloads``: the workloads whose ops it is about (empty:
    every workload). It is *checked* in a run only by a checker that can report one of
    ``breaks`` (or, for ``linearizable``, by a linearizability result): strong staleness or a
    lost version breaks a linearizability promise but does not prove it."""

    text: str
    breaks: tuple[str, ...] = ()
    strong: tuple[str, ...] = ()
    also: tuple[str, ...] = ()
    linearizable: bool = False
    workloads: tuple[str, ...] = ()

    def applies_to(self, workload: str | None) -> bool:
        return workload is None or not self.workloads or workload in self.workloads

    def checked_by(self, checker: str) -> bool:
        """Whether ``checker`` (by name) can find a violation of this promise."""
        if checker == LINEARIZABLE:
            return self.linearizable
        return bool(set(EMITS.get(checker, ())) & set(self.breaks))


@dataclass(frozen=True)
class Guarantees:
    """What a mode promises, in the order the report lists it."""

    promises: tuple[Promise, ...]

    @property
    def linearizable(self) -> bool:
        return any(p.linearizable for p in self.promises)

    def broken_by(self, checker: str, anomaly_type: str, strong: bool) -> Promise | None:
        """The promise an anomaly of ``anomaly_type`` reported by ``checker`` (on a strong read
        when ``strong``) breaks, or None when the mode permits it."""
        for p in self.promises:
            if checker == LINEARIZABLE and p.linearizable:
                return p
            if checker != LINEARIZABLE and (anomaly_type in p.breaks or anomaly_type in p.also
                                            or (strong and anomaly_type in p.strong)):
                return p
        return None


_WRITTEN = Promise("reads return only values that were written", breaks=_NEVER_INVENTED)
_CONVERGE = Promise("replicas converge after healing", breaks=("not-converged",))
#: Dynamo and lww's strict quorums (checkers/quorum.py; a run with R+W<=N leaves the first
#: not checked, and says why).
_QUORUM_READS = Promise("with R+W>N, a read outside fault windows sees every write "
                        "acknowledged before it began", breaks=(quorum.STALE,),
                        workloads=("register",))
_QUORUMS = Promise("reads wait for R replicas and writes for W", breaks=(quorum.BROKEN,))
MODES: dict[str, Guarantees] = {
    "dynamodb": Guarantees((
        Promise("strong reads and conditional writes are linearizable", strong=_STALENESS,
                linearizable=True, also=("lost-version",)),
        Promise("eventual reads may be stale but return only values that were written",
                breaks=_NEVER_INVENTED),
        Promise("acknowledged atomic adds are never lost",
                breaks=("lost", "lost-add", "counter-lost-adds"),
                workloads=("set", "counter")),
        _CONVERGE)),
    "dynamo": Guarantees((
        Promise("no acknowledged write is lost unless a later write's context covered it",
                breaks=("lost-write", "lost")),
        Promise("siblings are only ever concurrent writes", breaks=("non-concurrent-siblings",)),
        _WRITTEN, _CONVERGE, _QUORUM_READS, _QUORUMS)),
    "lww": Guarantees((
        _WRITTEN,
        Promise("replicas converge on the write with the highest timestamp",
                breaks=("not-converged", "not-highest-timestamp")),
        _QUORUM_READS, _QUORUMS)),
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
    a majority. The linearizability checker is not among them (see
    :func:`judges_linearizability`): pass its result to :func:`verdict` (``extra`` of
    :func:`judge`)."""
    _mode(mode)
    p = dict(params or {})
    if mode == "dynamodb":
        n = p.get("replication", 3)
        quorum_params = {"n": n, "r": 1, "w": n // 2 + 1}
    else:
        quorum_params = {"n": p.get("n", 3), "r": p.get("r", 2), "w": p.get("w", 2)}
    out: dict[str, Checker] = {}
    if workload == "register":
        out[reads.NAME] = reads.check
        if mode == "dynamo":
            out[siblings.NAME] = siblings.check
        else:
            if mode == "lww":
                out[lww.NAME] = lww.check
            out[staleness.NAME] = lambda h: staleness.check(h, **quorum_params)
        if mode == "dynamodb":
            out[convergence.NAME] = convergence.check
        out[session.NAME] = session.check
    elif workload == "set":
        out[sets.NAME] = sets.check  # its final reads are compared, too
    elif workload == "counter":
        out[counter.NAME] = counter.check
        out[convergence.NAME] = convergence.check
    if mode == "lww" and workload in ("set", "counter"):
        out[lww.NAME] = lww.check  # lost updates; the value replicas converged on
    if mode in ("dynamo", "lww"):
        # The harness records every fault it starts as nemesis ops.
        out[quorum.NAME] = lambda h: quorum.check(h, **quorum_params, faults_recorded=True,
                                                  settle=quorum.settle_seconds(p))
    out[availability.NAME] = availability.check
    return out


def judges_linearizability(mode: str, workload: str) -> bool:
    """Whether a run of ``workload`` in ``mode`` checks linearizability (of strong reads, writes
    and cas): only the dynamodb register workload has such ops."""
    return mode == "dynamodb" and workload == "register"


def judges_every_read(mode: str, workload: str) -> bool:
    """Whether ``--expect linearizable`` can have every read of a ``workload`` run in ``mode``
    judged: a register of single values (lww, dynamodb; dynamo's reads are sibling sets)."""
    return workload == "register" and mode != "dynamo"


def checker_names(mode: str, workload: str, expect: Iterable[str] = ()) -> tuple[str, ...]:
    """The names of every checker a run of ``workload`` in ``mode`` gets, ``expect`` given."""
    names = tuple(checkers_for(mode, workload))
    if judges_linearizability(mode, workload):
        names += (LINEARIZABLE,)
    if LINEARIZABLE in expect and judges_every_read(mode, workload):
        names += (LINEARIZABLE_EVERY_READ,)
    return names


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
    return verdict(mode, results, expect, workload=workload)


def verdict(mode: str, results: Mapping[str, Result], expect: Iterable[str] = (), *,
            workload: str | None = None) -> Result:
    """Judge named checker results by ``mode``'s guarantees and the ``expect``ed properties.
    ``workload`` (when known) drops the promises about ops it has none of and names, for a
    promise or expectation no checker of this run judged, the workloads whose checkers do.
    An expectation nothing judged makes the verdict unknown (unless a violation made it
    invalid): a CI gate must not pass on a property nobody checked."""
    g = _mode(mode)
    expect = parse_expect(expect)
    expected_types = {t: f"--expect {name}" for name in expect for t in EXPECTATIONS[name]}
    lin_required = g.linearizable or LINEARIZABLE in expect
    anomalies: list[dict[str, Any]] = []
    violations: dict[str, int] = {}
    permitted: dict[str, int] = {}
    per_checker: dict[str, dict[str, dict[str, int]]] = {}
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
            why = _violates(g, name, a["type"], a.get("consistency") == "strong",
                            expected_types, lin_required)
            anomalies.append({**a, "checker": name,
                              "severity": "violation" if why else "permitted",
                              **({"promise": why} if why else {})})
        mine = per_checker.setdefault(name, {"violations": {}, "permitted": {}})
        for t, c in counts.items():
            strong = strong_counts.get(t, 0)
            why = _violates(g, name, t, False, expected_types, lin_required)
            strong_why = _violates(g, name, t, True, expected_types, lin_required)
            bad = c if why else strong if strong_why else 0
            if bad:
                _add(violations, t, bad)
                _add(mine["violations"], t, bad)
                broken[why or strong_why or ""] = None
                failing[name] = None
            if c - bad:
                _add(permitted, t, c - bad)
                _add(mine["permitted"], t, c - bad)
        if (name == LINEARIZABLE and lin_required or name == LINEARIZABLE_EVERY_READ) \
                and res.valid is False and not counts:
            broken[_violates(g, name, "", True, expected_types, lin_required) or ""] = None
            failing[name] = None
    promises = _promise_states(g, mode, workload, results, broken)
    expectations = _expectation_states(mode, workload, expect, results, violations, failing)
    reasons = [f"{n}: {r.reason}" for n, r in results.items() if r.valid == UNKNOWN]
    reasons += [f"--expect {e['name']} is not checked: {e['note']}" for e in expectations
                if e["state"] == NOT_CHECKED]
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
        details={"mode": mode, "workload": workload,
                 "guarantees": [p["text"] for p in promises], "promises": promises,
                 "expect": list(expect), "expectations": expectations,
                 "violated": list(broken),
                 "unchecked": [p["text"] for p in promises if p["state"] == NOT_CHECKED],
                 "failing": list(failing), "counts": per_checker,
                 "results": {n: r.to_dict() for n, r in results.items()}})


def _promise_states(g: Guarantees, mode: str, workload: str | None,
                    results: Mapping[str, Result], broken: Mapping[str, None]
                    ) -> list[dict[str, Any]]:
    """Each promise that applies to ``workload``: its state, the checkers that judged it, and
    for one not checked a ``note`` saying why and which workload would check it."""
    out = []
    for p in g.promises:
        if not p.applies_to(workload) and p.text not in broken:
            continue
        skipped = {n: why for n, r in results.items()
                   if p.checked_by(n) and (why := _skipped(n, r, p.breaks))}
        judged = [n for n, r in results.items()
                  if p.checked_by(n) and r.valid != UNKNOWN and n not in skipped]
        if skipped and not judged and p.text not in broken:
            state, note = NOT_CHECKED, "; ".join(f"the {n} checker did not judge it: {why}"
                                                 for n, why in skipped.items())
        else:
            state, note = _state(p.text in broken, judged,
                                 [n for n in results if p.checked_by(n)], results, workload,
                                 _elsewhere(mode, workload, p.checked_by, p.applies_to))
        out.append({"text": p.text, "state": state, "checkers": judged, "note": note})
    return out


def _skipped(checker: str, result: Result, types: tuple[str, ...]) -> str | None:
    """Why ``checker`` judged none of ``types`` it can report, from its result's
    ``details.unchecked`` (anomaly type -> reason), or None when it judged some."""
    unchecked = (result.details or {}).get("unchecked") or {}
    mine = [t for t in EMITS.get(checker, ()) if t in types]
    if not mine or not all(t in unchecked for t in mine):
        return None
    return "; ".join(dict.fromkeys(unchecked[t] for t in mine))


def _expectation_states(mode: str, workload: str | None, expect: tuple[str, ...],
                        results: Mapping[str, Result], violations: Mapping[str, int],
                        failing: Mapping[str, None]) -> list[dict[str, Any]]:
    """Each ``--expect``ed property: violated when an anomaly of its types counted as a
    violation (whichever promise or expectation made it one), else as :func:`_state` says."""
    out = []
    for e in expect:
        can = lambda n: _judges_expectation(e, n)  # noqa: E731
        judged = [n for n, r in results.items() if can(n) and r.valid != UNKNOWN]
        violated = (any(violations.get(t) for t in EXPECTATIONS[e])
                    or (e == LINEARIZABLE and (LINEARIZABLE in failing
                                               or LINEARIZABLE_EVERY_READ in failing)))
        state, note = _state(violated, judged, [n for n in results if can(n)],
                             results, workload, _elsewhere(mode, workload, can))
        out.append({"name": e, "state": state, "checkers": judged, "note": note})
    return out


def unjudged_expectations(mode: str, workload: str, expect: Iterable[str]) -> list[str]:
    """One sentence for each ``--expect``ed property that no checker of a ``workload`` run in
    ``mode`` judges (so that a run can be refused before it starts), naming the workload that
    would."""
    out = []
    for e in parse_expect(expect):
        can = lambda n: _judges_expectation(e, n)  # noqa: E731
        if not any(can(n) for n in checker_names(mode, workload, expect)):
            note = _state(False, [], [], {}, workload, _elsewhere(mode, workload, can))[1]
            out.append(f"--expect {e} cannot be checked by a {workload} run in {mode} mode "
                       f"({note}); drop it or run that workload")
    return out


def _elsewhere(mode: str, workload: str | None, judges: Callable[[str], bool],
               applies: Callable[[str], bool] = lambda w: True) -> list[str]:
    """The other workloads whose checkers (in ``mode``) include one that ``judges``."""
    return [w for w in WORKLOADS if w != workload and applies(w)
            and any(judges(n) for n in checker_names(mode, w, (LINEARIZABLE,)))]


def _judges_expectation(expectation: str, checker: str) -> bool:
    """Whether ``checker`` judges ``--expect expectation``: a checker reporting its anomaly
    types (:data:`_JUDGED_BY`), or a linearizability result for ``linearizable`` (it sees
    strong reads only: a write lost where no strong read looked is the convergence checker's
    ``lost-version``)."""
    if checker in (LINEARIZABLE, LINEARIZABLE_EVERY_READ):
        return expectation == LINEARIZABLE
    judged_by = _JUDGED_BY.get(expectation, EXPECTATIONS[expectation])
    return bool(set(EMITS.get(checker, ())) & set(judged_by))


def _state(violated: bool, judged: list[str], could: list[str], results: Mapping[str, Result],
           workload: str | None, elsewhere: list[str]) -> tuple[str, str]:
    """A promise's or expectation's state and its note: ``judged`` are the checkers of this run
    that could find a violation and have a verdict, ``could`` those that could at all,
    ``elsewhere`` the other workloads that would check it."""
    if violated:
        return VIOLATED, ""
    if judged:
        return NO_VIOLATION, "checked by " + ", ".join(judged)
    if could:
        return NOT_CHECKED, "; ".join(f"the {n} checker's verdict is unknown ({results[n].reason})"
                                      for n in could)
    here = f"the {workload} workload" if workload else "this run"
    many = len(elsewhere) > 1
    there = (f"the {' and '.join(elsewhere)} workload{'s' if many else ''} "
             f"check{'' if many else 's'} it" if elsewhere else "no workload of this mode does")
    return NOT_CHECKED, f"no checker of {here} judges it; {there}"


def _violates(g: Guarantees, checker: str, anomaly_type: str, strong: bool,
              expected: dict[str, str], lin_required: bool) -> str | None:
    """The promise (or ``--expect``) an anomaly breaks, or None when it is permitted."""
    if checker == LINEARIZABLE_EVERY_READ:  # run only for --expect linearizable
        return f"--expect {LINEARIZABLE}"
    if checker == LINEARIZABLE:
        if not lin_required:
            return None
        p = g.broken_by(checker, anomaly_type, strong)
        return p.text if p is not None else f"--expect {LINEARIZABLE}"
    p = g.broken_by(checker, anomaly_type, strong)
    return p.text if p is not None else expected.get(anomaly_type)


def _add(counts: dict[str, int], t: str, n: int) -> None:
    counts[t] = counts.get(t, 0) + n


def _count(anomalies: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for a in anomalies:
        out[a["type"]] = out.get(a["type"], 0) + 1
    return out
