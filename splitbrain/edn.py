"""Reading EDN (Jepsen's history format) into plain JSON-like Python data.

Contract of :func:`loads_all`: every top-level form of the text, with keywords and symbols as
their names (str), vectors and lists as lists, maps as dicts (a vector key becomes a tuple),
sets as lists sorted by repr, nil/true/false as None/True/False.

Two readers, one result. The compiled reader (``_edn.c``, built by setup.py when a C compiler
is there) reads the subset Jepsen writes at tens of MB/s; whatever it does not handle (a
character literal, malformed input) it refuses, and the reference reader, edn_format (about
0.5 MB/s), reads the text instead: it gives the result, or the error a person reads. The
property tests check that the two agree on the subset. Where they differ: the compiled reader
passes any tagged literal through as its value (``#jepsen.history.Op{...}`` is the map), while
edn_format knows only ``#inst`` and ``#uuid`` (as datetime and UUID) and refuses other tags.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import edn_format
from edn_format.immutable_list import ImmutableList

try:
    from splitbrain import _edn
except ImportError:  # not built (no compiler): the reference reader does the work
    _edn = None

_SEQUENCES = (list, tuple, ImmutableList)


class EdnError(ValueError):
    """The text is not EDN; the message is the reference reader's, on one line."""


class UnusableEdn(EdnError):
    """The text is EDN, but holds what plain data cannot: a map inside a map key."""


def loads_all(text: str) -> list[Any]:
    """Every top-level form of ``text`` as plain data (see the module docstring); raises
    EdnError when the text is not valid EDN, UnusableEdn when a map key holds a map."""
    if _edn is not None:
        try:
            return _edn.loads_all(text)
        except ValueError:
            pass  # not in the compiled subset, or malformed: the reference reader decides
    try:
        forms = edn_format.loads_all(text)
    except Exception as e:  # edn_format raises bare Exceptions and ply errors alike
        raise EdnError(one_line(e)) from None
    return [plain(f) for f in forms]


def plain(v: Any) -> Any:
    """edn_format's data as plain JSON-like Python: keywords and symbols become their names,
    vectors and lists become lists, maps become dicts, sets sorted lists."""
    if isinstance(v, (edn_format.Keyword, edn_format.Symbol)):
        return v.name
    if isinstance(v, _SEQUENCES):
        return [plain(x) for x in v]
    if isinstance(v, Mapping):
        return {_plain_key(k): plain(x) for k, x in v.items()}
    if isinstance(v, (frozenset, set)):
        return sorted((plain(x) for x in v), key=repr)
    return v


def _plain_key(k: Any) -> Any:
    k = plain(k)
    k = tuple(k) if isinstance(k, list) else k
    try:
        hash(k)
    except TypeError:
        raise UnusableEdn(f"a map key holds a map ({one_line(k)}); a key must be a value, "
                          f"a vector or a set of values") from None
    return k


def one_line(x: Any) -> str:
    """``x`` as text on one line, at most 120 characters."""
    return " ".join(str(x).split())[:120]
