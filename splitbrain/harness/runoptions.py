"""The options a run of splitbrain's node shares between ``splitbrain test`` and ``splitbrain
sim``, validated in one place so that both refuse the same input with the same sentence."""

from __future__ import annotations

from typing import Iterable

from splitbrain.checkers import policy
from splitbrain.db.bugs import check_bugs
from splitbrain.errors import BadInput


def planted_and_expected(mode: str, workload: str, bug: Iterable[str], expect: Iterable[str]
                         ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``--bug`` and ``--expect`` of a ``workload`` run in ``mode``: the bugs without repeats and
    the expected properties. :class:`BadInput`, one sentence, for a bug not in the catalogue or
    not of ``mode``, a property splitbrain cannot check, or one no checker of the run judges."""
    try:
        expected = policy.parse_expect(expect)
        planted = tuple(check_bugs(bug, mode))
    except ValueError as e:
        raise BadInput(str(e)) from None
    for unjudged in policy.unjudged_expectations(mode, workload, expected):
        raise BadInput(unjudged)
    return planted, expected
