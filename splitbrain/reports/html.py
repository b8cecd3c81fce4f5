"""report.html: one self-contained page per run (no network, everything inlined).

Every value from a history, a result or a log reaches the page through Jinja2 with autoescape
on, and JSON embedded in ``<script>`` goes through ``tojson`` (which escapes ``<``, ``>``, ``&``
and quotes), so a history holding ``<script>`` renders as text.
"""

from __future__ import annotations

import shlex
from collections import Counter
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from splitbrain.checkers import availability
from splitbrain.reports.faults import Fault, fault_intervals, fault_kinds
from splitbrain.reports.perf import Perf, perf
from splitbrain.reports.run import RunData
from splitbrain.reports.sections import Section, sections
from splitbrain.reports.text import moment, seconds, short, verdict_word

OUTCOMES = ("ok", "fail", "info")
# test.json fields shown at the top, in this order, with their labels.
FACTS = (("mode", "mode"), ("workload", "workload"), ("nemesis", "faults"),
         ("nemesis_interval", "fault interval"), ("nodes", "nodes"), ("net", "network"),
         ("concurrency", "concurrency"), ("rate", "rate"), ("time_limit", "time limit"),
         ("seed", "seed"))


@cache
def environment() -> Environment:
    """The Jinja2 environment for every splitbrain report page (autoescape always on)."""
    env = Environment(loader=PackageLoader("splitbrain.reports", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["seconds"] = seconds
    env.filters["moment"] = moment
    return env


@cache
def asset(name: str) -> Markup:
    """An inlined stylesheet or script of ours (trusted text, not a template)."""
    return Markup(resources.files("splitbrain.reports").joinpath("templates", name)
                  .read_text(encoding="utf-8"))


def test_options(test: dict[str, Any]) -> dict[str, Any]:
    """test.json's options, flat: accepts the options at top level or under ``options``."""
    nested = test.get("options") if isinstance(test.get("options"), dict) else {}
    return {**nested, **{k: v for k, v in test.items() if k != "options"}}


def flatten(d: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested dicts as dotted keys; other values as they are."""
    if not isinstance(d, dict):
        return [(prefix, d)]
    out: list[tuple[str, Any]] = []
    for k, v in d.items():
        name = f"{prefix}.{k}" if prefix else str(k)
        out.extend(flatten(v, name) if isinstance(v, dict) and v else [(name, v)])
    return out


def fact_text(v: Any) -> str:
    """An option as a header fact: a record by its name, a list of nodes counted."""
    if isinstance(v, dict) and "name" in v:
        return short(v["name"], 80)
    if isinstance(v, list):
        return f"{len(v)} ({short(', '.join(map(str, v)), 60)})"
    return short(v, 80)


@dataclass
class OpCount:
    f: str
    ok: int
    fail: int
    info: int

    @property
    def total(self) -> int:
        return self.ok + self.fail + self.info


def op_counts(run: RunData) -> list[OpCount]:
    """Client ops by type and outcome, with a total row last."""
    c = Counter((op.f, op.type) for op in run.ops)
    rows = [OpCount(f, c[(f, "ok")], c[(f, "fail")], c[(f, "info")])
            for f in sorted({f for f, _ in c})]
    rows.append(OpCount("all", *(sum(getattr(r, o) for r in rows) for o in OUTCOMES)))
    return rows


@dataclass
class AvailabilityRow:
    """Ops invoked while a fault of ``kind`` was active (``none``: while no fault was)."""

    kind: str
    ops: int
    ok: int
    fail: int
    info: int
    answered: int

    @property
    def fraction(self) -> float | None:
        """The share the store served (availability's ``available``)."""
        return self.answered / self.ops if self.ops else None


def availability_rows(run: RunData) -> list[AvailabilityRow]:
    """Availability per fault kind: the run's availability result when it has one, else
    computed by that checker now (an offline history)."""
    stored = run.checker_results.get(availability.NAME)
    by_fault = (stored or {}).get("stats", {}).get("by_fault")
    if not isinstance(by_fault, dict):
        by_fault = availability.check(run.history).stats["by_fault"]
    rows = [AvailabilityRow(str(k), *(int(v.get(c, 0)) for c in ("ops", "ok", "fail", "info")),
                            int(v.get("answered", v.get("ok", 0))))
            for k, v in by_fault.items() if isinstance(v, dict)]
    return sorted(rows, key=lambda r: (r.kind != "none", r.kind))


@dataclass
class Promise:
    """One guarantee of the run's mode (or one ``--expect``ed property) and what became of it:
    ``violated``, ``not checked`` or ``no violation found``; ``note`` says which checkers judged
    it, or why none did and which workload would."""

    text: str
    state: str
    note: str = ""


@dataclass
class PolicyView:
    """The verdict policy's account of a run: the mode's promises, violations (which fail the
    run) and anomalies the mode permits (shown, counted, not failing)."""

    mode: str
    promises: list[Promise]
    expect: list[str]
    violations: list[tuple[str, int]]
    permitted: list[tuple[str, int]]


def _counts(v: Any) -> list[tuple[str, int]]:
    if not isinstance(v, dict):
        return []
    return sorted(((str(k), int(n)) for k, n in v.items() if isinstance(n, (int, float)) and n),
                  key=lambda kv: -kv[1])


def policy_view(run: RunData) -> PolicyView | None:
    if not run.policy or run.results is None:
        return None
    details = run.results.get("details") or {}
    stats = run.results.get("stats") or {}
    reason = str(run.results.get("reason") or "")
    broken = reason[len("violated: "):].split("; ") if reason.startswith("violated: ") else []
    if isinstance(details.get("promises"), list):  # the policy judged each promise
        promises = [Promise(str(p.get("text")), str(p.get("state")), str(p.get("note") or ""))
                    for p in details["promises"] if isinstance(p, dict)]
        promises += [Promise(f"expected: {e.get('name')}", str(e.get("state")),
                             str(e.get("note") or ""))
                     for e in details.get("expectations") or [] if isinstance(e, dict)]
    else:  # a verdict stored before promises had states: nothing says what was checked
        promises = [Promise(str(g), "violated" if g in broken else "not checked",
                            "" if g in broken else "this verdict does not record which checker "
                            "judged it") for g in details.get("guarantees") or []]
    shown = {p.text for p in promises} | {p.text[len("expected: "):] for p in promises}
    promises += [Promise(b, "violated") for b in broken
                 if b not in shown and b[len("--expect "):] not in shown]
    return PolicyView(str(details.get("mode", "")), promises,
                      [str(e) for e in details.get("expect") or []],
                      _counts(stats.get("violations")), _counts(stats.get("permitted")))


def summary_line(run: RunData, secs: list[Section], policy: PolicyView | None) -> str:
    """One sentence under the verdict: what failed, or why the verdict is unknown."""
    if run.results is None:
        return "This run was never checked (it has no results.json); run 'splitbrain check' on it."
    if policy is not None:
        parts = [str(run.results.get("reason") or "")] if run.valid is not True else [
            f"No promise of {policy.mode or 'the'} mode was violated"]
        if policy.violations:
            parts.append("violations: " + ", ".join(f"{n} {t}" for t, n in policy.violations))
        if policy.permitted:
            parts.append("permitted by the mode: " +
                         ", ".join(f"{n} {t}" for t, n in policy.permitted))
        return "; ".join(p for p in parts if p) + "."
    bad = [s for s in secs if s.verdict != "valid"]
    if not bad:
        return f"All {len(secs)} checkers passed." if len(secs) != 1 else "The checker passed."
    parts = []
    for s in bad:
        if s.type_counts:
            parts.append(f"{s.name}: " + ", ".join(f"{n} {t}" for t, n in s.type_counts))
        else:
            parts.append(f"{s.name}: {s.verdict}" + (f" ({s.reason})" if s.reason else ""))
    return "; ".join(parts) + "."


def command_line(command: Any) -> str:
    """test.json's reproducing command, recorded as a string or as an argument list."""
    if isinstance(command, list):
        return shlex.join(map(str, command))
    return command if isinstance(command, str) else ""


def duration(run: RunData, opts: dict[str, Any]) -> str:
    value = opts.get("duration")
    if isinstance(value, (int, float)):
        return seconds(value * 1e9)
    if not run.real_times:
        return "not measured (the history numbers its events)"
    times = [ev.time for ev in run.events]
    return seconds(max(times) - min(times)) if times else "0 s"


def context(run: RunData, *, title: str) -> dict[str, Any]:
    """Everything report.html.j2 needs."""
    opts = test_options(run.test)
    faults: list[Fault] = fault_intervals(run.nemesis_ops, max(ev.time for ev in run.events))
    perf_data: Perf | None = None
    avail: list[AvailabilityRow] = []
    perf_problem = ""
    try:
        if run.real_times:
            perf_data = perf(run.ops, run.events, faults)
        else:
            perf_problem = ("This history carries no measured times (its events are numbered "
                            "a few nanoseconds apart), so latency and throughput are not "
                            "plotted.")
        avail = availability_rows(run)
    except Exception as e:  # a plot must never hide the verdict
        perf_problem = f"The performance figures could not be drawn ({type(e).__name__}: {e})."
    secs = sections(run)
    policy = policy_view(run)
    facts = [(label, fact_text(opts[k])) for k, label in FACTS if opts.get(k) not in (None, "")]
    if not opts.get("nemesis") and faults:
        facts.insert(2, ("faults", ", ".join(fault_kinds(faults))))
    facts.append(("duration", duration(run, opts)))
    start = opts.get("start_time") or opts.get("started") or opts.get("start")
    if start:
        facts.append(("started", short(start, 40)))
    return {
        "title": title,
        "verdict": verdict_word(run.valid),
        "summary": summary_line(run, secs, policy),
        "policy": policy,
        "facts": facts,
        "command": command_line(opts.get("command")),
        "planted": planted_bugs(opts),
        "op_counts": op_counts(run),
        "sections": secs,
        "perf": perf_data,
        "perf_problem": perf_problem,
        "availability": avail,
        "faults": faults,
        "real_times": run.real_times,
        "files": run.files,
        "node_logs": run.node_logs,
        "options": [(k, short(v, 200)) for k, v in flatten(opts)],
        "css": asset("report.css"),
        "js": asset("report.js"),
    }


def planted_bugs(opts: dict[str, Any]) -> list[tuple[str, str]]:
    """The run's planted bugs (test.json's ``bug`` option) with their catalogue sentence
    ('' for a name the catalogue no longer has)."""
    from splitbrain.db.bugs import CATALOGUE

    names = opts.get("bug") or ()
    return [(str(n), CATALOGUE[n].sentence if n in CATALOGUE else "") for n in names]


def render(run: RunData, *, title: str | None = None) -> str:
    """The report page for a run, as one HTML string."""
    opts = test_options(run.test)
    name = title or str(opts.get("name") or "splitbrain run")
    return environment().get_template("report.html.j2").render(**context(run, title=name))
