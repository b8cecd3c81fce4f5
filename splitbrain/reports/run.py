"""What a report is made from: a run's options, history, results and files (DESIGN.md "Store"),
or an offline history with the results of checking it."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import quote

from splitbrain.errors import BadInput, read_json
from splitbrain.history import NEMESIS, Event, History, Op, pair, read_jsonl
from splitbrain.reports.perf import has_real_times


def sane_result(d: Any) -> dict[str, Any]:
    """A ``Result.to_dict()`` as the report reads it, whatever a results.json holds: ``valid``
    one of True, False, "unknown"; ``anomalies`` a list of dicts; ``stats`` and ``details``
    dicts; ``reason`` a string or None. A report of a damaged result still shows a verdict."""
    d = d if isinstance(d, dict) else {}
    valid = d.get("valid")
    return {**d,
            "valid": valid if valid is True or valid is False else "unknown",
            "anomalies": [a for a in d["anomalies"] if isinstance(a, dict)]
            if isinstance(d.get("anomalies"), list) else [],
            "stats": d["stats"] if isinstance(d.get("stats"), dict) else {},
            "details": d["details"] if isinstance(d.get("details"), dict) else {},
            "reason": str(d["reason"]) if d.get("reason") is not None else None}


def anomaly_ops(anomaly: dict[str, Any]) -> list[int]:
    """The history indices an anomaly names (its ``ops``), whatever else it holds."""
    ops = anomaly.get("ops")
    return [i for i in ops if isinstance(i, int) and not isinstance(i, bool)] \
        if isinstance(ops, list) else []


def _key_id(key: Any) -> str:
    """Keys may be any JSON value; compare them by canonical JSON."""
    return json.dumps(key, sort_keys=True, default=str)


@dataclass(frozen=True)
class Link:
    """A file the report links to: ``href`` is relative to the report's directory."""

    name: str
    href: str


class PairedHistory(History):
    """A History that pairs its ops once: a report asks for them many times (the plots, the
    timelines, the availability checker), and pairing a long history takes seconds."""

    @classmethod
    def of(cls, history: History) -> "PairedHistory":
        return history if isinstance(history, cls) else cls(history.events)

    @cached_property
    def _client_ops(self) -> list[Op]:
        return pair(self.events)

    @cached_property
    def _nemesis_ops(self) -> list[Op]:
        return pair([e for e in self.events if e.process == NEMESIS], include_nemesis=True)

    def ops(self, *, include_nemesis: bool = False) -> list[Op]:
        return super().ops(include_nemesis=True) if include_nemesis else self._client_ops

    def nemesis_ops(self) -> list[Op]:
        return self._nemesis_ops


@dataclass
class RunData:
    """Everything a report shows. ``results`` is a ``Result.to_dict()`` (normally the composed
    one) or None when the run was never checked; ``test`` is ``{}`` for an offline history."""

    history: History
    results: dict[str, Any] | None
    test: dict[str, Any] = field(default_factory=dict)
    files: list[Link] = field(default_factory=list)
    node_logs: list[Link] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.history = PairedHistory.of(self.history)
        if self.results is not None:
            self.results = sane_result(self.results)

    @property
    def events(self) -> list[Event]:
        return self.history.events

    @property
    def ops(self) -> list[Op]:
        return self.history.ops()

    @property
    def nemesis_ops(self) -> list[Op]:
        return self.history.nemesis_ops()

    @cached_property
    def real_times(self) -> bool:
        """Whether the history's event times were measured (see :func:`has_real_times`)."""
        return has_real_times(self.events)

    @cached_property
    def _by_index(self) -> dict[int, Op]:
        by: dict[int, Op] = {}
        for op in self.ops:
            by[op.index] = op
            if op.completion_index >= 0:
                by[op.completion_index] = op
        return by

    @cached_property
    def _by_key(self) -> dict[str, list[Op]]:
        by: dict[str, list[Op]] = {}
        for op in self.ops:
            by.setdefault(_key_id(op.key), []).append(op)
        return by

    def ops_on(self, key: Any) -> list[Op]:
        """The client ops on ``key``, in invocation order."""
        return self._by_key.get(_key_id(key), [])

    def op_at(self, index: int) -> Op | None:
        """The client op whose invocation (or completion) has this history index."""
        valid = isinstance(index, int) and not isinstance(index, bool)
        return self._by_index.get(index) if valid else None

    @property
    def valid(self) -> Any:
        return self.results["valid"] if self.results else "unknown"

    @cached_property
    def checker_results(self) -> dict[str, dict[str, Any]]:
        """Each checker's result dict by name: the parts of a composed result or of the
        policy's verdict (``details.results``), or the result itself when it is a single
        checker's."""
        if not self.results:
            return {}
        parts = self.results["details"].get("results")
        if isinstance(parts, dict) and parts and all(isinstance(r, dict) for r in parts.values()):
            return {str(name): sane_result(r) for name, r in parts.items()}
        return {str(self.results.get("checker") or "checker"): self.results}

    @property
    def policy(self) -> bool:
        """Whether the results are the verdict policy's (DESIGN.md "Checkers"): anomalies a
        mode permits are then shown but do not fail their checker."""
        return bool(self.results) and self.results.get("checker") == "verdict"

    @cached_property
    def severities(self) -> dict[str, list[str]]:
        """Per checker, the policy's ``severity`` of each of its anomalies, in order."""
        out: dict[str, list[str]] = {}
        for a in (self.results or {}).get("anomalies", []):
            if "severity" in a:
                out.setdefault(str(a.get("checker")), []).append(str(a["severity"]))
        return out

    def checker_valid(self, name: str) -> Any:
        """A checker's verdict as the run judges it: under the policy, only violations fail
        it (a checker that failed without naming an anomaly still fails, and so does one the
        policy lists in ``details.failing``, whose violation may be past the anomalies it
        lists); otherwise the checker's own ``valid``."""
        valid = self.checker_results[name]["valid"]
        severities = self.severities.get(name, [])
        if not self.policy or (valid is False and not severities):
            return valid
        failing = self.results["details"].get("failing")
        if "violation" in severities or (isinstance(failing, list) and name in failing):
            return False
        return "unknown" if valid == "unknown" else True


def _read_json(path: Path, what: str) -> Any:
    return read_json(path, f"re-run 'splitbrain check' on the run to rewrite its {what}")


def href(target: str | os.PathLike, report_path: str | os.PathLike) -> str:
    """The link from the report at ``report_path`` to the file ``target``: a relative,
    percent-encoded URL that a browser can never read as a scheme (``javascript:...`` as a
    file name becomes ``./javascript%3A...``)."""
    rel = Path(os.path.relpath(Path(target).resolve(), Path(report_path).resolve().parent))
    url = quote(rel.as_posix())
    return url if url.startswith(".") else "./" + url


def load_run(run_dir: str | os.PathLike, *, report_at: str | os.PathLike | None = None
             ) -> RunData:
    """Read a stored run. A run without ``results.json`` (it crashed before checking) still
    loads, with ``results`` None. Links point at the run's files from ``report_at`` (default:
    the run's own report.html). Raises :class:`BadInput` naming what is missing."""
    d = Path(run_dir)
    if not d.is_dir():
        raise BadInput(f"{d} is not a directory; pass a run directory such as "
                       f"store/<test>/<time>/ or store/latest.")
    if not (d / "history.jsonl").is_file():
        raise BadInput(f"{d} holds no history.jsonl, so it is not a splitbrain run directory.")
    history = read_jsonl(d / "history.jsonl")
    results = _read_json(d / "results.json", "results") if (d / "results.json").is_file() else None
    test = _read_json(d / "test.json", "options") if (d / "test.json").is_file() else {}
    if not isinstance(test, dict):
        raise BadInput(f"{d / 'test.json'} is not a JSON object of test options.")
    if results is not None and not (isinstance(results, dict) and "valid" in results):
        raise BadInput(f"{d / 'results.json'} is not a checker result (no 'valid' field); "
                       f"re-run 'splitbrain check' on the run.")
    report = report_at if report_at is not None else d / "report.html"
    files = [Link(n, href(d / n, report))
             for n in ("test.json", "history.jsonl", "results.json", "junit.xml")
             if (d / n).is_file()]
    logs = sorted((d / "nodes").glob("*.log")) if (d / "nodes").is_dir() else []
    return RunData(history, results, test, files, [Link(p.stem, href(p, report)) for p in logs])


def offline_run(history: History, results: dict[str, Any], *, source: str | os.PathLike,
                report_path: str | os.PathLike) -> RunData:
    """A report's data for a history checked offline (``splitbrain check FILE --report``): the
    history file is linked relative to where the report is written."""
    return RunData(history, results, {}, [Link(Path(source).name, href(source, report_path))])
