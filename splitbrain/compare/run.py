"""``splitbrain compare``: the same workload, seed and fault schedule against each mode, one run
after the other, then the table, the paragraph and the figure of :mod:`.render` written to
``<store>/compare/<YYYYmmddTHHMMSS>/`` (``compare.md``, ``compare.html``, ``compare.json``).

The fault schedule is the same in every run because the nemesis draws from its own stream,
seeded by the run's seed alone (:class:`splitbrain.harness.runner.Runner`), and the node names
are the same. Timing differs run to run, so a fault lands on different ops.
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from splitbrain.compare.design import facts
from splitbrain.compare.measure import measure
from splitbrain.compare.render import Column, html, markdown
from splitbrain.db.config import MODES
from splitbrain.errors import BadInput
from splitbrain.harness import store
from splitbrain.harness.testrun import Outcome, TestOptions, run_test

#: The (R, W) pairs ``--sweep-quorums`` adds for dynamo and lww, with N = 3.
SWEEP = ((1, 1), (2, 2), (3, 1), (1, 3))
SWEPT_MODES = ("dynamo", "lww")
NOTES = (
    "Every run had the same workload, seed and fault schedule; timing differs, so faults meet "
    "different ops.",
    "A dash means the figure was not measured, with the reason: no checker of that run "
    "produced it, or the mode does not offer it. It never means zero.",
    "Available: ops the store answered (ok, or a definite answer about the data such as a "
    "false condition) over ops attempted; final reads are not counted.",
    "Majority / minority side: an op sent during a partition to a node that could reach a "
    "strict majority of the nodes directly (itself included), or not.",
    "Acknowledged writes lost: lost-write (lww, dynamo register), lost (set); for dynamodb "
    "register, a linearizable history lost none.",
    "k-staleness: the fraction of eventual reads at least one acknowledged version behind, "
    "beside the PBS closed form (an upper bound for strict quorums, which ignores sloppy "
    "quorums and hinted handoff); dynamo's sibling reads have no version order, so there a read "
    "is stale when it returned neither an acknowledged write nor a value written after it.",
)


@dataclass
class CompareOptions:
    """Every option of a comparison; each run gets the same ones but its mode (and quorum)."""

    modes: tuple[str, ...] = MODES
    workload: str = "register"
    nemesis: str = "partition,kill,clock"
    nemesis_interval: float = 5.0
    time_limit: float = 60.0
    seed: int | None = None
    nodes: int = 5
    concurrency: int = 10
    rate: float = 100.0
    net: str = "proxy"
    store: str = "store"
    sweep_quorums: bool = False

    def plan(self) -> list[tuple[str, TestOptions]]:
        """(column label, the run's options) for every run, in order. BadInput for an unknown
        mode or an option a run would refuse."""
        for m in self.modes:
            if m not in MODES:
                raise BadInput(f"--modes names {m!r}, which is not a mode; use a comma-separated "
                               f"list of {', '.join(MODES)}")
        if not self.modes:
            raise BadInput("--modes is empty; name at least one of " + ", ".join(MODES))
        if self.seed is None:
            self.seed = random.SystemRandom().randrange(2**31)
        common = {k: getattr(self, k) for k in ("workload", "nemesis", "nemesis_interval",
                                                  "time_limit", "seed", "nodes", "concurrency",
                                                  "rate", "net", "store")}
        out = [(m, TestOptions(mode=m, **common)) for m in self.modes]
        if self.sweep_quorums:
            out += [(f"{m} R={r} W={w}", TestOptions(mode=m, r=r, w=w, **common))
                    for m in SWEPT_MODES for r, w in SWEEP]
        for _, opts in out:
            opts.validate()
        return out


@dataclass
class Comparison:
    """A finished comparison: where its files are, its columns, and each run's outcome."""

    dir: Path
    columns: list[Column]
    outcomes: list[Outcome]

    @property
    def worst(self) -> Any:
        """The worst verdict of the runs: False beats unknown beats True."""
        verdicts = [o.result.valid for o in self.outcomes]
        return False if False in verdicts else True if all(v is True for v in verdicts) \
            else "unknown"


def run_compare(opts: CompareOptions, *, on_run: Callable[[str, Outcome], None] | None = None,
                live: bool | None = None) -> Comparison:
    """Run every planned run in turn, then write compare.md, compare.html and compare.json.
    ``on_run(label, outcome)`` is called after each run. A run the tester could not finish
    raises its TesterFailure (the runs before it stay in the store)."""
    plan = opts.plan()
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    outcomes: list[Outcome] = []
    columns: list[Column] = []
    for label, test_opts in plan:
        outcome = run_test(test_opts, live=live)
        outcomes.append(outcome)
        columns.append(Column(label, test_opts.mode, outcome.run_dir, outcome.result.valid,
                              facts(test_opts.mode, outcome.test.get("cluster")),
                              measure(outcome.run_dir)))
        if on_run is not None:
            on_run(label, outcome)
    out = store.new_dir(opts.store, "compare")
    title = (f"splitbrain compare: {opts.workload} workload, faults {opts.nemesis}, "
             f"seed {opts.seed}, {opts.time_limit:g} s each")
    notes = list(NOTES)
    (out / "compare.md").write_text(markdown(title, columns, notes, out))
    (out / "compare.html").write_text(html(title, columns, notes, out))
    store.write_json(out / "compare.json", {
        "started": started, "options": asdict(opts),
        "columns": [c.to_dict() for c in columns]})
    return Comparison(out, columns, outcomes)
