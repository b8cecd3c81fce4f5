"""The history: the one contract every part of splitbrain shares.

A history is a list of events (DESIGN.md, "The history"). This module owns:

* :class:`Event`, one line of ``history.jsonl``;
* :class:`HistoryWriter`, which appends and flushes one event per line as it happens, so a crash
  of the tester loses nothing already recorded;
* :func:`read_jsonl`, which reads a history back and validates it, raising
  :class:`HistoryError` with the file, the line and the broken rule;
* :class:`Op` and :func:`pair`, which match invocations with their completions (an ``info``
  completion's return is at infinity: the op may take effect at any later time, or never).

It imports nothing from the rest of splitbrain, so any tool can read and write histories
(:func:`splitbrain.importers.load` reads every other format).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Iterable, Iterator

TYPES = ("invoke", "ok", "fail", "info")
COMPLETIONS = ("ok", "fail", "info")
NEMESIS = "nemesis"
INFINITY = math.inf


class HistoryError(ValueError):
    """A history breaks one of the rules of DESIGN.md. The message is one sentence that names the
    file and line (when known) and the rule."""

    def __init__(self, message: str, *, path: str | os.PathLike | None = None, line: int | None = None):
        self.path = str(path) if path is not None else None
        self.line = line
        where = ""
        if self.path is not None and line is not None:
            where = f"{self.path}, line {line}: "
        elif self.path is not None:
            where = f"{self.path}: "
        elif line is not None:
            where = f"line {line}: "
        super().__init__(where + message)


@dataclass(slots=True)
class Event:
    """One event of a history. ``time`` is nanoseconds since the test started: an integer in
    the histories splitbrain records, any finite number in those it reads or builds."""

    type: str
    process: int | str
    f: str
    value: Any = None
    time: int | float = 0
    index: int = -1
    key: Any = None
    node: str | None = None
    consistency: str | None = None
    error: str | None = None
    meta: dict | None = None

    def to_dict(self) -> dict:
        d: dict[str, Any] = {
            "index": self.index,
            "type": self.type,
            "process": self.process,
            "time": self.time,
            "f": self.f,
        }
        if self.key is not None:
            d["key"] = self.key
        d["value"] = self.value
        for name in ("node", "consistency", "error", "meta"):
            v = getattr(self, name)
            if v is not None:
                d[name] = v
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Event":
        return cls(
            type=d["type"],
            process=d["process"],
            f=d["f"],
            value=d.get("value"),
            time=d.get("time", 0),
            index=d.get("index", -1),
            key=d.get("key"),
            node=d.get("node"),
            consistency=d.get("consistency"),
            error=d.get("error"),
            meta=d.get("meta"),
        )


@dataclass(slots=True)
class Op:
    """An invocation paired with its completion.

    ``type`` is the completion's type (``ok``, ``fail`` or ``info``); an invocation that never
    completed counts as ``info``. ``call`` and ``ret`` are times in nanoseconds; ``ret`` is
    ``math.inf`` for ``info`` ops. ``value`` is the invocation's argument and ``output`` the
    completion's value (what a read returned). ``index`` is the invocation's index and
    ``completion_index`` the completion's (-1 if none).
    """

    index: int
    process: int | str
    f: str
    value: Any
    output: Any
    type: str
    call: float
    ret: float
    completion_index: int = -1
    key: Any = None
    node: str | None = None
    consistency: str | None = None
    error: str | None = None
    meta: dict | None = None

    @property
    def ok(self) -> bool:
        return self.type == "ok"


@dataclass
class History:
    """A validated list of events, with helpers to get at the operations."""

    events: list[Event] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.events)

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def ops(self, *, include_nemesis: bool = False) -> list[Op]:
        """Client operations (and nemesis ones if asked), ordered by invocation."""
        return pair(self.events, include_nemesis=include_nemesis)

    def nemesis_ops(self) -> list[Op]:
        return [op for op in pair(self.events, include_nemesis=True) if op.process == NEMESIS]


def validate(events: Iterable[Event], *, path: str | os.PathLike | None = None,
             lines: list[int] | None = None) -> list[Event]:
    """Check DESIGN.md's invariants and assign dense indices where they are missing.

    Rules: the type is one of invoke/ok/fail/info; the process is an integer or a name, ``f`` a
    string and the time a finite number; every completion matches an open invocation of the same
    process and the same ``f``; no process has two open invocations; times never decrease. Nemesis events are exempt from pairing (Jepsen records them as info/info pairs).
    ``lines`` gives the source line of each event for error messages.
    """
    out: list[Event] = []
    open_by_process: dict[Any, Event] = {}
    last_time = -INFINITY
    for i, ev in enumerate(events):
        # One pass of cheap tests; the sentence is built only for a broken rule.
        t, p = type(ev.time), type(ev.process)
        if (ev.type not in TYPES or not (t is int or t is float) or not (p is int or p is str)
                or type(ev.f) is not str or not math.isfinite(ev.time) or ev.time < last_time
                or (ev.index != -1 and ev.index != i)):
            raise HistoryError(_broken_rule(ev, i, last_time), path=path,
                               line=lines[i] if lines is not None else None)
        last_time = ev.time
        if ev.index == -1:
            ev.index = i
        out.append(ev)
        if ev.process == NEMESIS:
            continue
        problem = None
        if ev.type == "invoke":
            prev = open_by_process.get(ev.process)
            if prev is None:
                open_by_process[ev.process] = ev
            else:
                problem = (f"process {ev.process} invokes {ev.f!r} while its {prev.f!r} "
                           f"(index {prev.index}) is still open")
        else:
            inv = open_by_process.pop(ev.process, None)
            if inv is None:
                problem = (f"{ev.type} completion of {ev.f!r} by process {ev.process} has no "
                           f"open invocation")
            elif inv.f != ev.f:
                problem = (f"{ev.type} completion of {ev.f!r} by process {ev.process} does not "
                           f"match its open invocation of {inv.f!r} (index {inv.index})")
        if problem is not None:
            raise HistoryError(problem, path=path, line=lines[i] if lines is not None else None)
    return out


def _broken_rule(ev: Event, i: int, last_time: float) -> str:
    """Which of the event's own rules event number ``i`` breaks, as a sentence."""
    if ev.type not in TYPES:
        return f"unknown event type {ev.type!r}; expected one of invoke, ok, fail, info"
    if type(ev.time) not in (int, float) or not math.isfinite(ev.time):
        return f"time {ev.time!r} is not a number of nanoseconds"
    if type(ev.process) not in (int, str):
        return f"process {ev.process!r} is neither an integer client id nor a name"
    if type(ev.f) is not str:
        return f"operation name f {ev.f!r} is not a string"
    if ev.time < last_time:
        return f"time goes backwards ({ev.time} after {last_time})"
    return f"index {ev.index} is out of sequence; expected {i}"


def pair(events: list[Event], *, include_nemesis: bool = False) -> list[Op]:
    """Pair invocations with completions into :class:`Op` records ordered by invocation.

    Assumes a validated history. Invocations left open at the end count as ``info``. Nemesis
    events pair as consecutive events of the nemesis process with the same ``f``.
    """
    ops: list[Op] = []
    open_ops: dict[Any, Op] = {}
    nemesis_open: dict[str, Op] = {}
    for ev in events:
        if ev.process == NEMESIS:
            if not include_nemesis:
                continue
            started = nemesis_open.pop(ev.f, None)
            if started is None:
                op = Op(ev.index, NEMESIS, ev.f, ev.value, None, "info", ev.time, INFINITY,
                        key=ev.key, node=ev.node, meta=ev.meta)
                nemesis_open[ev.f] = op
                ops.append(op)
            else:
                started.output = ev.value
                started.ret = ev.time
                started.completion_index = ev.index
                started.error = ev.error
            continue
        if ev.type == "invoke":
            op = Op(ev.index, ev.process, ev.f, ev.value, None, "info", ev.time, INFINITY,
                    key=ev.key, node=ev.node, consistency=ev.consistency, meta=ev.meta)
            open_ops[ev.process] = op
            ops.append(op)
            continue
        op = open_ops.pop(ev.process)
        op.type = ev.type
        op.output = ev.value
        op.completion_index = ev.index
        op.ret = INFINITY if ev.type == "info" else ev.time
        op.error = ev.error
        if ev.meta is not None:
            op.meta = {**(op.meta or {}), **ev.meta}
        if ev.node is not None:
            op.node = ev.node
        if ev.consistency is not None:
            op.consistency = ev.consistency
        if ev.key is not None:
            op.key = ev.key
    return ops


#: One encoder for every event: json.dumps with options builds a new encoder per call, which
#: costs the recorder more than the encoding itself.
_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str)


class HistoryWriter:
    """Appends events to a JSONL file, one line per event, flushed as it is written.

    Indices are assigned densely in write order. Use as a context manager or call :meth:`close`.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._file: IO[str] = open(self.path, "a", encoding="utf-8")
        self._next = 0

    def append(self, event: Event) -> Event:
        event.index = self._next
        self._next += 1
        self._file.write(_ENCODER.encode(event.to_dict()) + "\n")
        self._file.flush()
        return event

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def __enter__(self) -> "HistoryWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_jsonl(events: Iterable[Event], path: str | os.PathLike) -> None:
    """Write a whole history to ``path`` (replacing it), reindexing densely."""
    Path(path).unlink(missing_ok=True)
    with HistoryWriter(path) as w:
        for ev in events:
            w.append(ev)


def parse_jsonl(text: str, *, path: str | os.PathLike | None = None) -> History:
    """Parse and validate JSONL text. Blank lines are ignored."""
    events: list[Event] = []
    lines: list[int] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            d = json.loads(raw)
        except json.JSONDecodeError as e:
            raise HistoryError(f"is not valid JSON ({e.msg}, column {e.colno}); "
                               f"the file may be truncated or not a splitbrain history",
                               path=path, line=lineno) from None
        if not isinstance(d, dict):
            raise HistoryError("is not a JSON object; each line must be one event",
                               path=path, line=lineno)
        missing = [k for k in ("type", "process", "f") if k not in d]
        if missing:
            raise HistoryError(f"event lacks the field(s) {', '.join(missing)}",
                               path=path, line=lineno)
        events.append(Event.from_dict(d))
        lines.append(lineno)
    if not events:
        raise HistoryError("holds no events; a history needs at least one", path=path)
    return History(validate(events, path=path, lines=lines))


def read_text(path: str | os.PathLike) -> str:
    """Read a history file as UTF-8 text, with a HistoryError for missing or binary files."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise HistoryError("does not exist", path=path) from None
    except IsADirectoryError:
        raise HistoryError("is a directory, not a history file", path=path) from None
    except OSError as e:
        raise HistoryError(f"cannot be read ({e.strerror})", path=path) from None
    if b"\x00" in data:
        raise HistoryError("is binary, not a text history", path=path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise HistoryError("is not UTF-8 text; is it a history file?", path=path) from None


def read_jsonl(path: str | os.PathLike) -> History:
    """Read and validate a splitbrain JSONL history."""
    return parse_jsonl(read_text(path), path=path)
