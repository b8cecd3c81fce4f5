"""The two kinds of failure the command line distinguishes (DESIGN.md exit codes)."""

from __future__ import annotations


class BadInput(Exception):
    """The user's input is wrong (a flag, a file, a config): exit 254 with this one-sentence
    message, which names what is wrong and what to do."""

    exit_code = 254


class TesterFailure(Exception):
    """The tester itself could not do its job (a node that will not start, a dead cluster):
    exit 255 with this one-sentence message."""

    exit_code = 255
