"""``splitbrain calibrate``: how often, and how fast, a run catches each planted bug, and how
often a run of the correct store is wrongly failed.

Rules:

- For each chosen bug (splitbrain.db.bugs), ``seeds`` runs of the run its catalogue entry
  records, with the bug planted, seeds ``seed``, ``seed + 1``, ...; then ``clean`` runs per mode
  of the chosen bugs with no bug, going round that mode's distinct catalogue runs (so the
  same workloads, faults and checkers judge the correct store). One run at a time: the machine's load is part of what is measured.
- A bug is *caught* by a run whose verdict is invalid. Its time to detection is the time, from
  the run's start, of the earliest op of its earliest violation (an anomaly the mode's policy
  counts against its promise); its catcher is that anomaly's checker and type.
- A clean run *fails* when its verdict is anything but valid (invalid: a false alarm; unknown:
  no verdict). A run the tester could not finish counts as neither caught nor passed, with its
  one-sentence reason.
- The result is ``calibration.json`` and ``calibration.html`` in
  ``<store>/calibration/<timestamp>/``; it passes iff every bug was caught in every seed and
  every clean run was valid (exit 0, else 1).
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from splitbrain.checkers.result import Result
from splitbrain.db.bugs import CATALOGUE, Bug
from splitbrain.errors import BadInput, TesterFailure
from splitbrain.harness import store
from splitbrain.harness.testrun import TestOptions, run_test, verdict_word
from splitbrain.history import History

JSON_FILE, HTML_FILE = "calibration.json", "calibration.html"


@dataclass
class Plan:
    """What to run: ``bugs`` (catalogue names), ``seeds`` runs each, ``clean`` clean runs per
    mode, every run ``time_limit`` seconds with a fault every ``nemesis_interval`` (unless the
    bug's catalogue run sets its own) and ``recovery`` seconds between the heal and the final
    reads."""

    bugs: list[str]
    seeds: int = 5
    time_limit: float = 60.0
    clean: int = 5
    nemesis_interval: float = 5.0
    recovery: float = 5.0
    nodes: int = 5
    seed: int = 1
    store: str = "store"

    @property
    def modes(self) -> list[str]:
        return list(dict.fromkeys(CATALOGUE[b].mode for b in self.bugs))

    def runs(self) -> list[tuple[str, TestOptions]]:
        """``(bug name or "clean", options)`` of every run, in the order they run."""
        out = [(name, self._options(CATALOGUE[name], bug=(name,), seed=self.seed + i))
               for name in self.bugs for i in range(self.seeds)]
        for mode in self.modes:
            runs = list({repr(b.run): b for b in CATALOGUE.values() if b.mode == mode}.values())
            out += [("clean", self._options(runs[i % len(runs)], bug=(), seed=self.seed + i))
                    for i in range(self.clean)]
        return out

    def _options(self, entry: Bug, **fields: Any) -> TestOptions:
        # A catalogue run may set its own fault interval (more crashes per run, say).
        run = {"nemesis_interval": self.nemesis_interval, **entry.run}
        return TestOptions(**run, time_limit=self.time_limit, nodes=self.nodes,
                           recovery=self.recovery, store=self.store, **fields)


def choose(names: Iterable[str]) -> list[str]:
    """``--bug`` values to catalogue names: ``all`` (or nothing) is every bug. BadInput for an
    unknown name."""
    names = list(names)
    if not names or "all" in names:
        return list(CATALOGUE)
    for n in names:
        if n not in CATALOGUE:
            raise BadInput(f"no planted bug is named {n!r}; 'splitbrain test --bug list' prints "
                           f"the catalogue, or use --bug all")
    return list(dict.fromkeys(names))


@dataclass
class Row:
    """One run of a calibration."""

    bug: str  # the bug's name, or "clean"
    mode: str
    seed: int
    command: str
    run_dir: str = ""
    verdict: str = "unknown"
    first_anomaly_s: float | None = None
    checker: str = ""
    anomaly: str = ""
    error: str = ""

    @property
    def caught(self) -> bool:
        return self.bug != "clean" and self.verdict == "INVALID"

    @property
    def passed(self) -> bool:
        """For a clean run: the correct store was judged valid."""
        return self.verdict == "valid" and not self.error


def first_violation(result: Result, history: History) -> tuple[float, str, str] | None:
    """``(seconds from the run's start, checker, anomaly type)`` of the violation whose
    earliest op came first; None when nothing violated the mode's promise."""
    times = {e.index: e.time for e in history.events}
    best: tuple[float, str, str] | None = None
    for a in result.anomalies:
        if a.get("severity", "violation") != "violation":
            continue
        at = [times[i] for i in a.get("ops") or () if i in times]
        t = min(at) / 1e9 if at else float("inf")
        if best is None or t < best[0]:
            best = (t, str(a.get("checker", "?")), str(a.get("type", "?")))
    return best


def run_one(name: str, opts: TestOptions) -> Row:
    """Run one calibration run and describe it."""
    row = Row(bug=name, mode=opts.mode, seed=int(opts.seed or 0), command=opts.command())
    try:
        outcome = run_test(opts, live=False)
    except TesterFailure as e:
        row.error = str(e)
        return row
    row.run_dir = str(outcome.run_dir)
    row.verdict = verdict_word(outcome.result.valid)
    try:
        found = first_violation(outcome.result, store.load_history(outcome.run_dir))
    except Exception as e:  # noqa: BLE001 - the verdict stands without its timing
        row.error = f"the history could not be read back ({type(e).__name__}: {e})"
        found = None
    if found is not None:
        t, row.checker, row.anomaly = found
        row.first_anomaly_s = round(t, 3) if t != float("inf") else None
    return row


def summarize(plan: Plan, rows: list[Row]) -> dict[str, Any]:
    """The calibration's record: per bug, per mode, and whether it passed."""
    bugs = {}
    for name in plan.bugs:
        mine = [r for r in rows if r.bug == name]
        caught = [r for r in mine if r.caught]
        times = [r.first_anomaly_s for r in caught if r.first_anomaly_s is not None]
        catchers = Counter(f"{r.checker}: {r.anomaly}" for r in caught)
        bugs[name] = {"mode": CATALOGUE[name].mode, "sentence": CATALOGUE[name].sentence,
                      "command": CATALOGUE[name].command(), "seeds": len(mine),
                      "caught": len(caught),
                      "median_first_anomaly_s": statistics.median(times) if times else None,
                      "caught_by": dict(catchers.most_common()),
                      "runs": [asdict(r) for r in mine]}
    modes = {}
    for mode in plan.modes:
        clean = [r for r in rows if r.bug == "clean" and r.mode == mode]
        modes[mode] = {"clean_runs": len(clean), "passed": sum(r.passed for r in clean),
                       "false_alarms": [asdict(r) for r in clean if r.verdict == "INVALID"],
                       "other_failures": [asdict(r) for r in clean
                                          if not r.passed and r.verdict != "INVALID"]}
    ok = (all(b["caught"] == b["seeds"] for b in bugs.values())
          and all(m["passed"] == m["clean_runs"] for m in modes.values()))
    return {"plan": asdict(plan), "bugs": bugs, "modes": modes, "passed": ok}


def out_dir(store_dir: str) -> Path:
    """``<store>/calibration/<timestamp>/`` (suffixed when two start within a second)."""
    parent = Path(store_dir) / "calibration"
    stamp = time.strftime("%Y%m%dT%H%M%S")
    for n in range(1, 1000):
        path = parent / (stamp if n == 1 else f"{stamp}-{n}")
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            continue
    raise BadInput(f"cannot create a calibration directory under {parent}")


def calibrate(plan: Plan, on_row: Callable[[int, int, Row], None] | None = None,
              on_start: Callable[[int, int, str, TestOptions], None] | None = None
              ) -> tuple[dict[str, Any], Path]:
    """Run ``plan``; write calibration.json and calibration.html; return the record and the
    directory. ``on_start(i, total, name, opts)`` and ``on_row(i, total, row)`` report
    progress."""
    try:
        where = out_dir(plan.store)
    except OSError as e:
        raise BadInput(f"cannot create a calibration directory under {plan.store} "
                       f"({e.strerror}); choose a writable --store") from None
    runs = plan.runs()
    for _, opts in runs:
        opts.validate()  # bad options fail before the first run, not in the middle
    rows: list[Row] = []
    for i, (name, opts) in enumerate(runs):
        if on_start:
            on_start(i, len(runs), name, opts)
        rows.append(run_one(name, opts))
        if on_row:
            on_row(i, len(runs), rows[-1])
        record = summarize(plan, rows)
        store.write_json(where / JSON_FILE, record)  # a partial record survives an interrupt
    record = summarize(plan, rows)
    store.write_json(where / JSON_FILE, record)
    from splitbrain.reports.calibration import write_calibration_report

    write_calibration_report(record, where / HTML_FILE)
    return record, where
