"""Importers: histories from other tools, turned into validated splitbrain histories.

Formats (``FORMATS``):

* ``jsonl``: splitbrain's own history (DESIGN.md, "The history");
* ``edn``: a Jepsen history, either one map per line or one vector/list of maps, with keywords,
  nil and vectors (parsed with ``edn_format``); ``:process :nemesis`` becomes ``"nemesis"``;
* ``porcupine-etcd``: Porcupine's Jepsen etcd logs (``INFO  jepsen.util - P :type :f VALUE``);
* ``porcupine-kv``: Porcupine's kv logs (one ``{:process P, :type T, :f F, :key K, :value V}``
  map per line; parsed by a fixed-format reader, as these logs are large and regular).

Imported events get ``time`` = their position, so history order is real-time order, as in Jepsen
(unless an EDN event carries its own ``:time``). :func:`implied_options` gives the checker
options a format implies (a Porcupine log names its model). Every error is a
:class:`~splitbrain.history.HistoryError` naming the file, the line and what is wrong.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any, Callable, Iterator

import edn_format
from edn_format.immutable_list import ImmutableList

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
    """A Jepsen EDN history: a vector or list of op maps, or one map per line."""
    try:
        forms = edn_format.loads_all(text)
    except Exception as e:  # edn_format raises bare Exceptions and ply errors alike
        raise HistoryError(f"is not valid EDN ({_one_line(e)}); the file may be truncated",
                           path=path) from None
    if len(forms) == 1 and isinstance(forms[0], _SEQUENCES):
        forms = list(forms[0])
    events = []
    for i, form in enumerate(forms):
        if not isinstance(form, Mapping):
            raise HistoryError(f"holds {_one_line(form)!r} as its op number {i + 1}, which is not "
                               f"a map; a Jepsen history is a sequence of op maps", path=path)
        d = {_plain(k): _plain(v) for k, v in form.items()}
        missing = [k for k in ("type", "process", "f") if k not in d]
        if missing:
            raise HistoryError(f"op number {i + 1} lacks {', '.join(':' + k for k in missing)}",
                               path=path)
        error = d.get("error")
        events.append(Event(
            type=str(d["type"]), process=d["process"], f=str(d["f"]), value=d.get("value"),
            time=d["time"] if isinstance(d.get("time"), int) else len(events),
            key=d.get("key"), node=_str_or_none(d.get("node")),
            consistency=_str_or_none(d.get("consistency")),
            error=_error_text(error)))
    starts = [n for n, line in enumerate(text.splitlines(), start=1)
              if line.lstrip(" \t[(").startswith("{")]
    return _finish(events, starts if len(starts) == len(events) else None, path)


def _finish(events: list[Event], lines: list[int] | None,
            path: str | os.PathLike | None) -> History:
    if not events:
        raise HistoryError("holds no events; a history needs at least one", path=path)
    return History(validate(events, path=path, lines=lines))


def _edn_value(raw: str, path: str | os.PathLike | None, lineno: int) -> Any:
    """An EDN scalar or vector; the forms etcd logs use are read directly (building
    edn_format's parser per line would dominate the import time)."""
    if raw in _ETCD_ATOMS:
        return _ETCD_ATOMS[raw]
    if _INT.fullmatch(raw):
        return int(raw)
    if raw.startswith("[") and raw.endswith("]"):
        parts = raw[1:-1].split()
        if all(p in _ETCD_ATOMS or _INT.fullmatch(p) for p in parts):
            return [_ETCD_ATOMS[p] if p in _ETCD_ATOMS else int(p) for p in parts]
    try:
        return _plain(edn_format.loads(raw))
    except Exception:
        raise HistoryError(f"has a value {raw!r} that is not EDN", path=path, line=lineno) from None


def _plain(v: Any) -> Any:
    """EDN data as plain JSON-like Python: keywords become their names, vectors and lists
    become lists, maps become dicts."""
    if isinstance(v, edn_format.Keyword):
        return v.name
    if isinstance(v, edn_format.Symbol):
        return v.name
    if isinstance(v, _SEQUENCES):
        return [_plain(x) for x in v]
    if isinstance(v, Mapping):
        return {_plain_key(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (frozenset, set)):
        return sorted((_plain(x) for x in v), key=repr)
    return v


def _plain_key(k: Any) -> Any:
    k = _plain(k)
    return tuple(k) if isinstance(k, list) else k


def _error_text(error: Any) -> str | None:
    """A Jepsen ``:error`` (a keyword, string or vector such as ``[:timeout nil]``) as a short
    string: "timeout"."""
    if error is None:
        return None
    if isinstance(error, list):
        return " ".join(_one_line(e) for e in error if e is not None) or None
    return _one_line(error)


def _str_or_none(v: Any) -> str | None:
    return None if v is None else str(v)


def _one_line(x: Any) -> str:
    return " ".join(str(x).split())[:120]


def _unescape(s: str) -> str:
    return s.replace('\\"', '"').replace("\\\\", "\\") if "\\" in s else s


_INT = re.compile(r"-?\d+")
_ETCD_ATOMS: dict[str, Any] = {"nil": None, ":timed-out": "timed-out", "true": True, "false": False}
_SEQUENCES = (list, tuple, ImmutableList)

_PARSERS: dict[str, Callable[[str, str | os.PathLike | None], History]] = {
    "jsonl": lambda text, path: parse_jsonl(text, path=path),
    "edn": parse_edn,
    "porcupine-etcd": parse_etcd,
    "porcupine-kv": parse_kv,
}
