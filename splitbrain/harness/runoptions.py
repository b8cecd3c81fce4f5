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


def check_pacing(*, concurrency: int, rate: float, op_timeout: float,
                 nemesis_interval: float | None, request_timeout_ms: int | None) -> None:
    """:class:`BadInput`, one sentence, for a client count, rate, op timeout, fault interval
    (None: not given) or node request budget (None: the node's default) out of range."""
    if concurrency < 1:
        raise BadInput(f"--concurrency must be at least 1, not {concurrency}")
    for name, value, unit in (("--rate", rate, "ops per second"),
                              ("--op-timeout", op_timeout, "seconds"),
                              ("--nemesis-interval", nemesis_interval, "seconds")):
        if value is not None and not value > 0:
            raise BadInput(f"{name} must be a positive number of {unit}, not {value:g}")
    if request_timeout_ms is not None and request_timeout_ms < 1:
        raise BadInput(f"--request-timeout-ms must be at least 1, not {request_timeout_ms}")
