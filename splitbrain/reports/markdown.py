"""The Markdown summary a CI page shows (``--summary-md FILE``, and GitHub's step summary).

One summary covers one command: every run or history it judged, as an :class:`Entry`. Each entry
says its verdict, what was run (mode, workload, faults, seed), the promises it violated with the
first anomaly of each in one line, the anomalies its mode permits (counted), and the exact
command that reproduces it. Several entries also get a table listing every one of them with its
seed, so a series of runs (``--test-count N``) shows which seed failed.

Any command can summarise what it judged: build entries with :func:`run_entry` (a stored run's
test.json and verdict), :func:`file_entry` (a history checked offline) or :func:`failed_entry`
(a run the tester could not finish), render them with :func:`render` and hand the text to
:func:`write`, which also appends it to ``$GITHUB_STEP_SUMMARY`` when that is set.

Everything taken from a history or a result is escaped, so a hostile value cannot break the
page's Markdown or inject HTML.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from splitbrain.reports.html import FACTS, command_line, fact_text, test_options
from splitbrain.reports.text import seconds, verdict_word

#: The environment variable GitHub Actions sets to the file its step summary is read from.
STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"
#: test.json options shown under an entry's heading, in this order.
SHOWN_FACTS = ("mode", "workload", "nemesis", "nodes", "net", "time_limit")
#: Longest one-line anomaly (characters); longer explanations are cut.
LINE_LIMIT = 300
#: Most entries given a section of their own; the table still lists all of them.
MAX_SECTIONS = 20
#: Most rows of the table, which keeps a summary far under GitHub's 1 MiB per step.
MAX_ROWS = 1000

_ICON = {"valid": "✅", "invalid": "❌", "unknown": "❔", "could not run": "💥"}
#: What Markdown reads inside a line: emphasis, code, links, table cells, strikethrough.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


@dataclass
class Entry:
    """One judged run or history. ``result`` is the verdict's ``Result.to_dict()``, or None
    when the tester could not run it (``failure`` then says why). ``recorded`` is the verdict
    stored before, when the entry is a re-judgement (``splitbrain check store/``)."""

    name: str
    result: dict[str, Any] | None
    seed: Any = None
    facts: list[tuple[str, str]] = field(default_factory=list)
    reproduce: str = ""
    location: str = ""
    failure: str = ""
    recorded: Any = None

    @property
    def verdict(self) -> str:
        """``valid``, ``invalid``, ``unknown`` or ``could not run``."""
        return "could not run" if self.result is None else verdict_word(self.result.get("valid"))


def run_entry(test: Mapping[str, Any], result: Mapping[str, Any], run_dir: str | os.PathLike,
              *, recorded: Any = None) -> Entry:
    """The entry of a stored run: its test.json record and its verdict."""
    opts = test_options(dict(test))
    return Entry(name=str(opts.get("name") or Path(run_dir).name), result=dict(result),
                 seed=opts.get("seed"), facts=_facts(opts),
                 reproduce=command_line(opts.get("command")), location=str(run_dir),
                 recorded=recorded)


def failed_entry(name: str, seed: Any, command: str, failure: str) -> Entry:
    """The entry of a run the tester could not finish (exit 255): ``failure`` says why."""
    return Entry(name=name, result=None, seed=seed, reproduce=command, failure=failure)


def file_entry(path: str, result: Mapping[str, Any], command: str) -> Entry:
    """The entry of a history file checked offline (named by its path); ``command`` checks it
    again."""
    return Entry(name=path, result=dict(result), reproduce=command)


def _facts(opts: Mapping[str, Any]) -> list[tuple[str, str]]:
    labels = dict(FACTS)
    return [(labels[k], seconds(opts[k] * 1e9) if k == "time_limit" and
             isinstance(opts[k], (int, float)) else fact_text(opts[k]))
            for k in SHOWN_FACTS if opts.get(k) not in (None, "")]


def escape(text: Any) -> str:
    """``text`` on one line, cut to :data:`LINE_LIMIT`, with the characters Markdown reads
    inside a line backslash-escaped and ``<``/``&`` as entities (GitHub renders inline HTML).
    The summary never starts a line with such text, so ``#``, ``-`` or ``>`` stay as they
    are."""
    one = " ".join(str(text).split())
    if len(one) > LINE_LIMIT:
        one = one[:LINE_LIMIT - 1] + "…"
    one = one.replace("&", "&amp;").replace("<", "&lt;")
    return _MD_SPECIAL.sub(r"\\\1", one)


def code_block(text: str) -> str:
    """``text`` in a fenced block whose fence is longer than any run of backticks inside."""
    runs = [len(m) for m in re.findall(r"`+", text)]
    fence = "`" * max(3, max(runs, default=0) + 1)
    return f"{fence}\n{text}\n{fence}"


def _counts(counts: Any) -> str:
    if not isinstance(counts, dict):
        return ""
    items = sorted(((str(t), n) for t, n in counts.items() if isinstance(n, int) and n),
                   key=lambda tn: (-tn[1], tn[0]))
    return ", ".join(f"{n} {escape(t)}" for t, n in items)


def _anomaly_line(a: Mapping[str, Any]) -> str:
    ops = [str(i) for i in a.get("ops") or [] if isinstance(i, int)]
    where = f" (ops {', '.join(ops[:8])}{', …' if len(ops) > 8 else ''})" if ops else ""
    checker = f"{a['checker']}: " if a.get("checker") else ""
    return escape(f"{checker}{a.get('type', 'anomaly')}{where}: {a.get('explanation', '')}")


def violations(result: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(promise, its first anomaly in one line) for each promise the verdict broke. A result
    that is no policy verdict (``splitbrain check FILE``) breaks its checker's property; a
    promise broken only by anomalies past those a checker lists says so instead."""
    details = result.get("details") if isinstance(result.get("details"), dict) else {}
    anomalies = [a for a in result.get("anomalies") or [] if isinstance(a, dict)]
    if "violated" in details:
        first: dict[str, Mapping[str, Any]] = {}
        for a in anomalies:
            if a.get("severity") == "violation":
                first.setdefault(str(a.get("promise")), a)
        return [(str(p), _anomaly_line(first[p]) if p in first else
                 "no anomaly listed: the count is in results.json")
                for p in details["violated"]]
    if result.get("valid") is False:
        what = str(details.get("model") or result.get("checker") or "the checker's property")
        return [(what, _anomaly_line(anomalies[0]) if anomalies else
                 escape(result.get("reason") or "no anomaly listed"))]
    return []


def _section(e: Entry, heading: str) -> list[str]:
    lines = [f"{heading} {_ICON[e.verdict]} {escape(e.name)}: {e.verdict}", ""]
    facts = [f"{label} **{escape(v)}**" for label, v in e.facts]
    if e.seed is not None:
        facts.append(f"seed **{escape(e.seed)}**")
    if e.recorded is not None:
        facts.append(f"recorded verdict **{verdict_word(e.recorded)}**")
    if facts:
        lines += [", ".join(facts), ""]
    if e.result is None:
        lines += [f"The tester could not run it: {escape(e.failure)}", ""]
    else:
        stats = e.result.get("stats") if isinstance(e.result.get("stats"), dict) else {}
        broken = violations(e.result)
        if broken:
            lines += ["Violated:"] + [f"- **{escape(p)}**: {line}" for p, line in broken] + [""]
            counted = _counts(stats.get("violations"))
            if counted:
                lines += [f"Violations by type: {counted}", ""]
        elif e.result.get("valid") == "unknown":
            lines += [f"Undecided: {escape(e.result.get('reason') or 'no reason given')}", ""]
        permitted = _counts(stats.get("permitted"))
        if permitted:
            lines += [f"Permitted by the mode (counted, not failing): {permitted}", ""]
    if e.reproduce:
        lines += ["Reproduce:", "", code_block(e.reproduce), ""]
    if e.location:
        lines += [f"Stored in `{e.location.replace('`', '')}`", ""]
    return lines


def _table(entries: list[Entry]) -> list[str]:
    recorded = any(e.recorded is not None for e in entries)
    head = ["#", "name", "seed"] + (["recorded"] if recorded else []) + \
        ["verdict", "violated", "permitted"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for i, e in enumerate(entries[:MAX_ROWS], 1):
        stats = (e.result or {}).get("stats")
        stats = stats if isinstance(stats, dict) else {}
        row = [str(i), escape(e.name), escape("" if e.seed is None else e.seed)]
        if recorded:
            row.append("" if e.recorded is None else verdict_word(e.recorded))
        row += [f"{_ICON[e.verdict]} {e.verdict}", _counts(stats.get("violations")),
                _counts(stats.get("permitted"))]
        lines.append("| " + " | ".join(row) + " |")
    if len(entries) > MAX_ROWS:
        lines += ["", f"… and {len(entries) - MAX_ROWS} more rows, left out (the command's "
                      f"output lists them all)."]
    return lines + [""]


def overall(entries: list[Entry]) -> str:
    """The worst verdict among the entries: invalid, could not run, unknown, valid."""
    order = ("invalid", "could not run", "unknown", "valid")
    return min((e.verdict for e in entries), key=order.index, default="valid")


def render(entries: list[Entry], *, title: str, note: str = "",
           table: bool | None = None) -> str:
    """The Markdown summary of ``entries`` under ``title`` (e.g. ``splitbrain test``), with
    ``note`` as a line under the heading. With a ``table`` (by default when there are several
    entries; a series asks for one even when it stopped at its first run) every entry gets a
    row with its seed (at most :data:`MAX_ROWS`), then each that is not valid a section (at
    most :data:`MAX_SECTIONS`); without, each entry is a section."""
    worst = overall(entries)
    lines = [f"## {_ICON[worst]} {escape(title)}: {worst}", ""]
    if note:
        lines += [escape(note), ""]
    if not (len(entries) > 1 if table is None else table):
        return "\n".join(lines + [line for e in entries for line in _section(e, "###")])
    lines += _table(entries)
    shown = [(i, e) for i, e in enumerate(entries, 1) if e.verdict != "valid"]
    for i, e in shown[:MAX_SECTIONS]:
        lines += _section(e, f"### {i}.")
    if len(shown) > MAX_SECTIONS:
        lines += [f"… and {len(shown) - MAX_SECTIONS} more not valid, in the table above.", ""]
    return "\n".join(lines)


def write(text: str, path: str | os.PathLike | None, *, step_summary: bool = True,
          env: Mapping[str, str] | None = None) -> list[Path]:
    """Write ``text`` to ``path`` (replacing it) and, when ``step_summary`` and
    ``$GITHUB_STEP_SUMMARY`` is set, append it there. Returns the files written; raises
    OSError when one cannot be written."""
    text = text if text.endswith("\n") else text + "\n"
    written = []
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
        written.append(Path(path))
    step = (os.environ if env is None else env).get(STEP_SUMMARY_ENV)
    if step_summary and step:
        with open(step, "a", encoding="utf-8") as f:
            f.write(text)
        written.append(Path(step))
    return written
