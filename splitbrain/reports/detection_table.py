"""Markdown tables of finished calibrations (``splitbrain calibrate --table A.json B.json``), for
docs/detection.md: a measurement is often several passes (different bugs, seeds or commits), and
its table should come from their ``calibration.json`` files, not be typed by hand.

Rules:

- Each file is one *pass*, labelled A, B, C, ... in the order given; a legend lists every pass's
  file and plan (bugs, seeds, time limit, fault interval, recovery, nodes, clean runs).
- One row per bug per pass that measured it, never merged across passes (passes may differ in
  commit, time limit or seeds): seeds caught ``k/n``, the median seconds to the first violation
  over the caught seeds, and what caught them (``checker: anomaly ×count``). Seeds that were
  missed, or that the tester could not finish, are named.
- One row per mode per pass that ran clean runs: runs, valid, and each false alarm (seed,
  catcher, run directory) or other failure (verdict or the tester's reason), so each can be
  analysed.
- A record of ``calibrate --sim`` (its ``sim`` part, alone or beside the real one) gets its
  own legend line and tables: per bug per pass the seeds caught, the CPU seconds to the first
  catching seed, what caught them and the mean CPU seconds per seed; per mode the clean seeds
  and how many were valid.
- Reads only the files; a file that is missing, not JSON, or not a calibration record is bad
  input with one sentence naming it.
"""

from __future__ import annotations

import shlex
import string
from typing import Any, Mapping

from splitbrain.errors import BadInput, read_json
from splitbrain.reports.markdown import escape

_RUN_OPTIONS_SHOWN_APART = ("--workload", "--nemesis")
_RUN_OPTIONS_LEFT_OUT = ("--mode", "--bug", "--store")


def load(paths: list[str]) -> list[tuple[str, str, dict[str, Any]]]:
    """``(label, path, record)`` per file, labelled A, B, ... BadInput for a file that cannot be
    read or is not a calibration record."""
    if len(paths) > len(string.ascii_uppercase):
        raise BadInput(f"--table takes at most {len(string.ascii_uppercase)} files, "
                       f"not {len(paths)}; combine fewer passes")
    out = []
    for label, path in zip(string.ascii_uppercase, paths):
        record = read_json(path, "give the calibration.json that 'splitbrain calibrate' wrote")
        if not (_is_record(record) or isinstance(record, dict) and _is_record(record.get("sim"))):
            raise BadInput(f"{path} is not a calibration record (it lacks plan, bugs and "
                           f"modes); give the calibration.json that 'splitbrain calibrate' "
                           f"wrote")
        out.append((label, path, record))
    return out


def _is_record(part: Any) -> bool:
    """Whether ``part`` is a calibration's real or simulated record (plan, bugs, modes)."""
    return (isinstance(part, dict) and isinstance(part.get("plan"), dict)
            and isinstance(part.get("bugs"), dict) and isinstance(part.get("modes"), dict))


def run_of(command: str) -> str:
    """A ``splitbrain test`` command as ``workload; faults`` plus any other option that shapes
    the run (``--expect ...``); mode, bug and store are left out (they have columns or do
    not matter)."""
    try:
        words = shlex.split(command)
    except ValueError:
        return command
    options: dict[str, list[str]] = {}
    key = ""
    for w in words[2:]:
        if w.startswith("--"):
            key = w
            options.setdefault(key, [])
        elif key:
            options[key].append(w)
    main = "; ".join(" ".join(options.get(k) or ["?"]) for k in _RUN_OPTIONS_SHOWN_APART)
    rest = [" ".join([k, *v]) for k, v in options.items()
            if k not in _RUN_OPTIONS_SHOWN_APART + _RUN_OPTIONS_LEFT_OUT]
    return " ".join([main, *rest])


def _without_store(command: str) -> str:
    try:
        words = shlex.split(command)
    except ValueError:
        return command
    kept = [w for i, w in enumerate(words)
            if w != "--store" and (i == 0 or words[i - 1] != "--store")]
    return shlex.join(kept)


def _plan_line(label: str, path: str, record: Mapping[str, Any]) -> str:
    p = record["plan"]
    first = int(p.get("seed", 1))
    seeds = int(p.get("seeds", 0))
    bugs = list(p.get("bugs") or record["bugs"])
    clean = int(p.get("clean", 0))
    planned = len(bugs) * seeds + clean * len(record["modes"])
    done = sum(len(b.get("runs") or ()) for b in record["bugs"].values()) + \
        sum(int(m.get("clean_runs", 0)) for m in record["modes"].values())
    partial = f" **Partial: {done} of its {planned} runs recorded** (stopped, or still " \
        f"running)." if done < planned else ""
    return (f"- **{label}**: `{path.replace('`', '')}`: {len(bugs)} "
            f"bug{'' if len(bugs) == 1 else 's'} × {seeds} seeds (seeds {first}–"
            f"{first + seeds - 1}) and {clean} clean runs per mode; {p.get('time_limit', '?')} s "
            f"runs, a fault every {p.get('nemesis_interval', '?')} s unless the run sets its own, "
            f"{p.get('recovery', '?')} s recovery, {p.get('nodes', '?')} nodes.{partial}")


def _catchers(bug: Mapping[str, Any]) -> str:
    return ", ".join(f"{escape(c)} ×{n}" for c, n in (bug.get("caught_by") or {}).items())


def _not_caught(bug: Mapping[str, Any]) -> str:
    notes = []
    for r in bug.get("runs") or ():
        if r.get("error") and r.get("verdict") != "INVALID":
            notes.append(f"seed {r.get('seed')}: not finished ({r['error']})")
        elif r.get("verdict") != "INVALID":
            notes.append(f"seed {r.get('seed')}: {r.get('verdict')}")
    return escape("; ".join(notes))


def _seconds(value: Any) -> str:
    return "" if value is None else f"{float(value):.1f}"


def _clean_failures(mode: Mapping[str, Any]) -> str:
    parts = []
    for r in mode.get("false_alarms") or ():
        caught_by = escape(f"{r.get('checker') or '?'}: {r.get('anomaly') or '?'}")
        parts.append(f"false alarm, seed {r.get('seed')}: {caught_by} at "
                     f"{_seconds(r.get('first_anomaly_s'))} s "
                     f"(`{_without_store(str(r.get('command', ''))).replace('`', '')}`; "
                     f"run `{str(r.get('run_dir', '')).replace('`', '')}`)")
    for r in mode.get("other_failures") or ():
        why = r.get("error") or f"verdict {r.get('verdict')}"
        parts.append(f"seed {r.get('seed')} not judged valid: {escape(why)}")
    return "<br>".join(parts)


def _sim_plan_line(label: str, path: str, sim: Mapping[str, Any]) -> str:
    p = sim["plan"]
    first, seeds = int(p.get("seed", 1)), int(p.get("seeds", 0))
    bugs = list(p.get("bugs") or sim["bugs"])
    ops = (f"{p['ops']} client ops per seed at 100 ops/s" if p.get("ops")
           else "each bug's own seed length")
    return (f"- **{label}** (simulated): `{path.replace('`', '')}`: {len(bugs)} "
            f"bug{'' if len(bugs) == 1 else 's'} × {seeds} seeds (seeds {first}–"
            f"{first + seeds - 1}) and {int(p.get('clean', 0))} clean seeds per mode; {ops}, "
            f"each bug's catalogue run.")


def _sim_tables(passes: list[tuple[str, str, dict[str, Any]]]) -> list[str]:
    rows, clean = [], []
    for label, _, record in passes:
        sim = record.get("sim")
        if not _is_record(sim):
            continue
        for name, bug in sim["bugs"].items():
            cpus = [float(r["cpu_s"]) for r in bug.get("runs") or () if r.get("cpu_s")]
            run = bug.get("sim_run") or {}
            shown = "; ".join(str(run.get(k, "?")) for k in ("workload", "nemesis"))
            first = bug.get("cpu_to_first_catch_s")
            rows.append([f"`{name.replace('`', '')}`", escape(bug.get("mode", "")),
                         escape(shown), label, f"{bug.get('caught', 0)}/{bug.get('seeds', 0)}",
                         "–" if first is None else f"{float(first):.1f}", _catchers(bug),
                         f"{sum(cpus) / len(cpus):.2f}" if cpus else ""])
        clean += [[escape(mode), label, str(m.get("clean_runs", 0)), str(m.get("passed", 0)),
                   _clean_failures(m)] for mode, m in sim["modes"].items() if m.get("clean_runs")]
    lines: list[str] = []
    if rows:
        lines += _table(["bug", "mode", "sim run (workload; faults)", "pass", "seeds caught",
                         "CPU s to first catch", "caught by", "CPU s per seed"], rows)
    if clean:
        lines += _table(["mode", "pass", "clean seeds", "valid", "false alarms and failures"],
                        clean)
    return lines


def render(passes: list[tuple[str, str, dict[str, Any]]]) -> str:
    """The markdown: the passes' legend, the per-bug table, and the clean-run table (each
    table only when some pass has rows for it), then the simulated passes' tables."""
    sims = [(label, path, r) for label, path, r in passes if _is_record(r.get("sim"))]
    passes = [(label, path, r) for label, path, r in passes if _is_record(r)]
    lines = ["Passes:", ""] + [_plan_line(*p) for p in passes] + \
        [_sim_plan_line(label, path, r["sim"]) for label, path, r in sims] + [""]
    bug_rows = []
    order = list(dict.fromkeys(name for _, _, r in passes for name in r["bugs"]))
    for name in order:
        for label, _, record in passes:
            bug = record["bugs"].get(name)
            if not bug or not bug.get("runs"):
                continue
            bug_rows.append([f"`{name.replace('`', '')}`", escape(bug.get("mode", "")),
                             escape(run_of(str(bug.get("command", "")))), label,
                             f"{bug.get('caught', 0)}/{bug.get('seeds', 0)}",
                             _seconds(bug.get("median_first_anomaly_s")), _catchers(bug),
                             _not_caught(bug)])
    if bug_rows:
        head = ["bug", "mode", "run (workload; faults)", "pass", "seeds caught",
                "median s to first violation", "caught by", "not caught"]
        lines += _table(head, bug_rows)
    clean_rows = [[escape(mode), label, str(m.get("clean_runs", 0)), str(m.get("passed", 0)),
                   _clean_failures(m)]
                  for label, _, record in passes for mode, m in record["modes"].items()
                  if m.get("clean_runs")]
    if clean_rows:
        lines += _table(["mode", "pass", "clean runs", "valid", "false alarms and failures"],
                        clean_rows)
    lines += _sim_tables(sims)
    return "\n".join(lines).rstrip("\n") + "\n"


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    return (["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            + ["| " + " | ".join(r) + " |" for r in rows] + [""])
