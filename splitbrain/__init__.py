"""splitbrain: a Jepsen-style fault-injection and consistency checker with its own
Dynamo/DynamoDB-style key-value store as the system under test.

This module is the public Python API (docs/api.md); everything else is internal and may move:

* histories: :class:`Operation` and :func:`history_from_operations` (Porcupine-style records),
  :func:`history_from_events`, :class:`HistoryRecorder` (record your own concurrent ops),
  :class:`History`, :class:`Event`, :class:`Op`;
* linearizability: :func:`check` and :func:`assert_linearizable` against a :class:`Model`
  (built-ins by name in :data:`MODELS`, or your own subclass; :func:`freeze` makes states
  hashable);
* the eventual checkers ``check_reads``, ``check_lww``, ``check_siblings``, ``check_sets``,
  ``check_counter``, ``check_staleness``, ``check_quorum``, ``check_session``,
  ``check_availability``;
* :class:`Result`, :func:`compose`, and :func:`report` (an HTML report);
* errors: :class:`HistoryError`, :class:`BadInput`, :class:`ModelError`, :class:`NotLinearizable`,
  :class:`RecorderError`.

Names are imported on first use (PEP 562), so that ``splitbrain node``, which imports this
package too, starts without loading the checkers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Public name -> (module, attribute): the one list of what this package exports.
_EXPORTS: dict[str, tuple[str, str]] = {
    "Operation": ("splitbrain.operations", "Operation"),
    "history_from_operations": ("splitbrain.operations", "history_from_operations"),
    "history_from_events": ("splitbrain.operations", "history_from_events"),
    "HistoryRecorder": ("splitbrain.recorder", "HistoryRecorder"),
    "History": ("splitbrain.history", "History"),
    "Event": ("splitbrain.history", "Event"),
    "Op": ("splitbrain.history", "Op"),
    "check": ("splitbrain.api", "check"),
    "assert_linearizable": ("splitbrain.api", "assert_linearizable"),
    "Model": ("splitbrain.checkers.linearizable.models", "Model"),
    "MODELS": ("splitbrain.checkers.linearizable.models", "MODELS"),
    "freeze": ("splitbrain.checkers.linearizable.models", "freeze"),
    "check_reads": ("splitbrain.checkers.reads", "check"),
    "check_lww": ("splitbrain.checkers.lww", "check"),
    "check_siblings": ("splitbrain.checkers.siblings", "check"),
    "check_sets": ("splitbrain.checkers.sets", "check"),
    "check_counter": ("splitbrain.checkers.counter", "check"),
    "check_staleness": ("splitbrain.checkers.staleness", "check"),
    "check_quorum": ("splitbrain.checkers.quorum", "check"),
    "check_session": ("splitbrain.checkers.session", "check"),
    "check_availability": ("splitbrain.checkers.availability", "check"),
    "Result": ("splitbrain.checkers.result", "Result"),
    "compose": ("splitbrain.checkers.result", "compose"),
    "report": ("splitbrain.api", "report"),
    "HistoryError": ("splitbrain.history", "HistoryError"),
    "BadInput": ("splitbrain.errors", "BadInput"),
    "ModelError": ("splitbrain.checkers.linearizable.guard", "ModelError"),
    "NotLinearizable": ("splitbrain.api", "NotLinearizable"),
    "RecorderError": ("splitbrain.recorder", "RecorderError"),
}

__all__ = list(_EXPORTS)

if TYPE_CHECKING:  # the same names, for type checkers (a test keeps the two lists equal)
    from splitbrain.api import NotLinearizable, assert_linearizable, check, report
    from splitbrain.checkers.availability import check as check_availability
    from splitbrain.checkers.counter import check as check_counter
    from splitbrain.checkers.linearizable.guard import ModelError
    from splitbrain.checkers.linearizable.models import MODELS, Model, freeze
    from splitbrain.checkers.lww import check as check_lww
    from splitbrain.checkers.quorum import check as check_quorum
    from splitbrain.checkers.reads import check as check_reads
    from splitbrain.checkers.result import Result, compose
    from splitbrain.checkers.session import check as check_session
    from splitbrain.checkers.sets import check as check_sets
    from splitbrain.checkers.siblings import check as check_siblings
    from splitbrain.checkers.staleness import check as check_staleness
    from splitbrain.errors import BadInput
    from splitbrain.history import Event, History, HistoryError, Op
    from splitbrain.operations import Operation, history_from_events, history_from_operations
    from splitbrain.recorder import HistoryRecorder, RecorderError


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'splitbrain' has no attribute {name!r}")
    module, attribute = _EXPORTS[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
