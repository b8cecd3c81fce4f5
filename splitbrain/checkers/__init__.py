"""Checkers: pure functions from a history to a :class:`~splitbrain.checkers.result.Result`.

Nothing here imports from the harness, the node or the reports."""

from splitbrain.checkers.result import Result, compose

__all__ = ["Result", "compose"]
