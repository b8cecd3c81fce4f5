"""Checking history files offline: what ``splitbrain check FILE...`` does for each file.

:func:`check_file` loads any supported format and runs the linearizability checker with the
options the format implies (a Porcupine log names its model) overridden by the user's;
:func:`run_dir_of` tells whether a file is a stored run's history.jsonl (the command then judges
it as its run was);
:func:`summary` renders a Result as the lines the command prints.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
from pathlib import Path
from typing import Any, Iterator

from splitbrain import plugins
from splitbrain.checkers.linearizable import MODELS, check
from splitbrain.checkers.result import Result, compose
from splitbrain.errors import BadInput
from splitbrain.harness.store import HISTORY_FILE, TEST_FILE
from splitbrain.importers import implied_options, load


def parse_initial(text: str | None) -> tuple[bool, Any]:
    """``--initial`` as JSON: (given?, value)."""
    if text is None:
        return False, None
    try:
        return True, json.loads(text)
    except json.JSONDecodeError:
        raise BadInput(f"--initial {text!r} is not JSON; write a JSON value such as 0, "
                       f"null or '\"x\"'") from None


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused: loading a history builds hundreds of thousands
    of acyclic objects, and each collection would walk them all again (a third of the time of
    loading and checking 100,000 ops)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def check_file(path: str | os.PathLike, *, fmt: str = "auto", model: str | None = None,
               initial: str | None = None, nil_reads: str | None = None,
               time_limit: float | None = None, consistency: str | None = None) -> Result:
    """Load ``path`` and check it; options left as None take the format's implied value.
    ``consistency="strong"`` leaves eventual reads out; otherwise they are judged like any op
    and ``stats["eventual-judged"]`` counts them (the summary says so)."""
    with _gc_paused():
        history, used = load(path, fmt)
        options: dict[str, Any] = {"model": "cas-register", **implied_options(used)}
        if model is not None:
            options["model"] = model
        given, value = parse_initial(initial)
        if given:
            options["initial"] = value
        if nil_reads is not None:
            options["nil_reads"] = nil_reads
        if options["model"] not in MODELS:  # a plugin's model is built with the options
            options["model"] = plugins.model(options["model"],
                                             initial=options.pop("initial", None),
                                             nil_reads=options.pop("nil_reads", "strict"))
        result = check(history, time_limit=time_limit, consistency=consistency, **options)
        if consistency is None:
            result.stats["eventual-judged"] = sum(
                ev.consistency == "eventual" and ev.type in ("ok", "info") for ev in history)
    result.stats["format"] = used
    return result


def run_dir_of(path: str | os.PathLike) -> Path | None:
    """The stored run whose history ``path`` is (a history.jsonl with test.json beside it),
    or None."""
    p = Path(path)
    if p.name == HISTORY_FILE and (p.parent / TEST_FILE).is_file():
        return p.parent
    return None


def summary(path: str, result: Result) -> list[str]:
    """One line with the verdict, ops and seconds; then each anomaly's explanation."""
    verdict = {True: "linearizable", False: "NOT linearizable"}.get(result.valid, "unknown")  # type: ignore[arg-type]
    keys = result.stats.get("keys", 0)
    per_key = f", {keys} keys" if keys > 1 else ""
    line = (f"{path}: {verdict} ({result.stats.get('ops', 0)} ops{per_key}, "
            f"{result.stats.get('seconds', 0):.3f} s, model {result.details.get('model')})")
    if result.valid == "unknown" and result.reason:
        line += f": {result.reason}"
    lines = [line]
    if result.stats.get("eventual-judged"):
        lines.append(f"  note: {result.stats['eventual-judged']} ops marked consistency: "
                     f"eventual were judged for linearizability too; pass --consistency strong "
                     f"to leave them out")
    for a in result.anomalies:
        key = "" if a["key"] is None else f"key {json.dumps(a['key'], default=str)}: "
        lines.append(f"  {key}{a['explanation']}")
        lines.append(f"    failing window: ops {', '.join(map(str, a['ops']))}")
    return lines


def with_checkers(path: str | os.PathLike, fmt: str, result: Result,
                  specs: tuple[str, ...]) -> tuple[Result, list[str]]:
    """``result`` composed with the plugin checkers ``specs`` run on the history at ``path``,
    and one line per checker (its verdict and anomaly count, then each explanation)."""
    history = load(path, fmt)[0]
    results = {"linearizable": result}
    lines = []
    for spec in specs:
        r = plugins.checker(spec)(history)
        results[spec] = r
        verdict = {True: "valid", False: "INVALID"}.get(r.valid, "unknown")  # type: ignore[arg-type]
        lines.append(f"  {spec}: {verdict} ({len(r.anomalies)} anomalies)")
        lines += [f"    {a.get('explanation', a.get('type'))}" for a in r.anomalies]
    return compose(results), lines
