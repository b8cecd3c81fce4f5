"""Importers: histories from other tools, turned into validated splitbrain histories.

Formats (``FORMATS``):

* ``jsonl``: splitbrain's own history (DESIGN.md, "The history");
* ``edn``: a Jepsen history, either one map per line or one vector/list of maps (read by
  :mod:`splitbrain.edn`); ``:process :nemesis`` becomes ``"nemesis"``;
* ``porcupine-etcd``: Porcupine's Jepsen etcd logs (``INFO  jepsen.util - P :type :f VALUE``);
* ``porcupine-kv``: Porcupine's kv logs (one ``{:process P, :type T, :f F, :key K, :value V}``
  map per line; parsed by a fixed-format reader, as these logs are large and regular).

Imported events get ``time`` = their position: the file's order is the order of events, as
Knossos and Jepsen read it (an EDN event's own ``:time`` is metadata, ``meta["time"]``, and may
go backwards). Our own JSONL keeps the stricter rule that times never decrease.
:func:`implied_options` gives the checker options a format implies (a Porcupine log names its
model). Every error is a
:class:`~splitbrain.history.HistoryError` naming the file, the line and what is wrong.
"""

from __future__ import annotations

import os
import re
from typing import Any, Callable, Iterator

from splitbrain import edn
from splitbrain.history import Event, History, HistoryError, parse_jsonl, read_text, validate

FORMATS = ("auto", "jsonl", "edn", "porcupine-etcd", "porcupine-kv")

_ETCD_LINE = re.compile(r"^INFO\s+jepsen\.util\s+-\s+(\d+)\s+:(invoke|ok|fail|info)\s+:(\w+)\s+(.*?)\s*$")
_KV_LINE = re.compile(r'^\{:process (\d+), :type :(\w+), :f :(\w+), :key "((?:[^"\\]|\\.)*)", '
                      r':value (nil|"(?:[^"\\]|\\.)*")\}\s*$')


def detect_format(text: str, path: str | os.PathLike | None = None) -> str:
    """Guess the format from the first non-blank line; raise HistoryError when none fits."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if not first:
        raise HistoryError("holds no events; a history needs at least one", path=path)
    if first.startswith("INFO") and "jepsen.util" in first:
        return "porcupine-etcd"
    if _KV_LINE.match(first):
        return "porcupine-kv"
    if first.startswith("{\""):
        return "jsonl"
    if first[0] in "[({;":
        return "edn"
    raise HistoryError("is in no known history format (splitbrain JSONL, Jepsen EDN, Porcupine "
                       "etcd or kv log); pass --format to say which", path=path)


def implied_options(fmt: str) -> dict[str, Any]:
    """Checker options a format implies: Porcupine's etcd logs are a cas-register starting at
    nil with strict nil reads; its kv logs are string-append maps with keys starting at ""."""
    if fmt == "porcupine-etcd":
        return {"model": "cas-register", "initial": None, "nil_reads": "strict"}
    if fmt == "porcupine-kv":
        return {"model": "kv-append", "initial": ""}
    return {}


def load(path: str | os.PathLike, fmt: str = "auto") -> tuple[History, str]:
    """Read, convert and validate the history at ``path``; returns it with the format used."""
    if fmt not in FORMATS:
        raise HistoryError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}", path=path)
    text = read_text(path)
    if fmt == "auto":
        fmt = detect_format(text, path)
    return _PARSERS[fmt](text, path), fmt


def _matched_lines(text: str, path: str | os.PathLike | None, pattern: re.Pattern,
                   expected: str) -> Iterator[tuple[int, re.Match]]:
    """``(line number, match)`` for each non-blank line of ``text``; a line ``pattern`` does not
    match is a HistoryError saying it is not ``expected``."""
    for lineno, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        m = pattern.match(raw)
        if m is None:
            raise HistoryError(f"is not {expected}; the file may be truncated or in another "
                               f"format", path=path, line=lineno)
        yield lineno, m


def parse_etcd(text: str, path: str | os.PathLike | None = None) -> History:
    """Porcupine's etcd logs. ``:fail :read :timed-out`` becomes a ``fail`` read (it returned
    nothing usable, and a read that did not happen constrains nothing); ``:info`` completions
    become ``info`` with ``error`` "timed-out"."""
    events, lines = [], []
    for lineno, m in _matched_lines(text, path, _ETCD_LINE, "a Porcupine etcd log line "
                                    "('INFO  jepsen.util - PROCESS :TYPE :F VALUE')"):
        process, typ, f, raw_value = int(m[1]), m[2], m[3], m[4]
        value = _edn_value(raw_value, path, lineno)
        error = None
        if typ in ("fail", "info") and value == "timed-out":
            value, error = None, "timed-out"
        events.append(Event(typ, process, f, value, time=len(events), error=error))
        lines.append(lineno)
    return _finish(events, lines, path)


def parse_kv(text: str, path: str | os.PathLike | None = None) -> History:
    """Porcupine's kv logs: string keys and values, ``nil`` for a get's invocation."""
    events, lines = [], []
    for lineno, m in _matched_lines(text, path, _KV_LINE, "a Porcupine kv log line ('{:process "
                                    "P, :type :T, :f :F, :key \"K\", :value V}')"):
        value = None if m[5] == "nil" else _unescape(m[5][1:-1])
        events.append(Event(m[2], int(m[1]), m[3], value, time=len(events), key=_unescape(m[4])))
        lines.append(lineno)
    return _finish(events, lines, path)


def parse_edn(text: str, path: str | os.PathLike | None = None) -> History:
    """A Jepsen EDN history: a vector or list of op maps, or one map per line. The file's order
    is the order of events (Jepsen's ``:time`` is taken by each worker thread, so it need not
    increase); each event's ``time`` is its position and its ``:time``, when given, is kept
    as ``meta["time"]``."""
    try:
        forms = edn.loads_all(text)
    except edn.UnusableEdn as e:
        raise HistoryError(f"holds EDN splitbrain cannot use: {e}", path=path) from None
    except edn.EdnError as e:
        raise HistoryError(f"is not valid EDN ({e}); the file may be truncated",
                           path=path) from None
    if len(forms) == 1 and isinstance(forms[0], list):
        forms = forms[0]
    events = []
    for i, d in enumerate(forms):
        if type(d) is not dict:
            raise HistoryError(f"holds {edn.one_line(d)!r} as its op number {i + 1}, which is "
                               f"not a map; a Jepsen history is a sequence of op maps", path=path)
        get = d.get
        typ, process, f = get("type"), get("process"), get("f")
        if typ is None or process is None or f is None:
            missing = [k for k in ("type", "process", "f") if k not in d]
            if missing:
                raise HistoryError(f"op number {i + 1} lacks "
                                   f"{', '.join(':' + k for k in missing)}", path=path)
        source_time, node, consistency, error = get("time"), get("node"), \
            get("consistency"), get("error")
        events.append(Event(
            str(typ), process, str(f), get("value"), i, -1, get("key"),
            None if node is None else str(node),
            None if consistency is None else str(consistency),
            None if error is None else _error_text(error),
            None if source_time is None else {"time": source_time}))
    if not events:
        raise HistoryError("holds no events; a history needs at least one", path=path)
    try:  # the source lines of the events are worth finding only for an error message
        return History(validate(events, path=path))
    except HistoryError:
        starts = [n for n, line in enumerate(text.splitlines(), start=1)
                  if line.lstrip(" \t[(").startswith("{")]
        if len(starts) != len(events):
            raise
        return History(validate(events, path=path, lines=starts))


def _finish(events: list[Event], lines: list[int] | None,
            path: str | os.PathLike | None) -> History:
    if not events:
        raise HistoryError("holds no events; a history needs at least one", path=path)
    return History(validate(events, path=path, lines=lines))


def _edn_value(raw: str, path: str | os.PathLike | None, lineno: int) -> Any:
    """An EDN scalar or vector; the forms etcd logs use are read directly (building
    a parser per line would dominate the import time)."""
    if raw in _ETCD_ATOMS:
        return _ETCD_ATOMS[raw]
    if _INT.fullmatch(raw):
        return int(raw)
    if raw.startswith("[") and raw.endswith("]"):
        parts = raw[1:-1].split()
        if all(p in _ETCD_ATOMS or _INT.fullmatch(p) for p in parts):
            return [_ETCD_ATOMS[p] if p in _ETCD_ATOMS else int(p) for p in parts]
    try:
        forms = edn.loads_all(raw)
    except edn.EdnError:
        forms = []
    if len(forms) != 1:
        raise HistoryError(f"has a value {raw!r} that is not EDN", path=path, line=lineno)
    return forms[0]


def _error_text(error: Any) -> str | None:
    """A Jepsen ``:error`` (a keyword, string or vector such as ``[:timeout nil]``) as a short
    string: "timeout"."""
    if error is None:
        return None
    if isinstance(error, list):
        return " ".join(edn.one_line(e) for e in error if e is not None) or None
    return edn.one_line(error)


def _unescape(s: str) -> str:
    return s.replace('\\"', '"').replace("\\\\", "\\") if "\\" in s else s


_INT = re.compile(r"-?\d+")
_ETCD_ATOMS: dict[str, Any] = {"nil": None, ":timed-out": "timed-out", "true": True, "false": False}

_PARSERS: dict[str, Callable[[str, str | os.PathLike | None], History]] = {
    "jsonl": lambda text, path: parse_jsonl(text, path=path),
    "edn": parse_edn,
    "porcupine-etcd": parse_etcd,
    "porcupine-kv": parse_kv,
}
