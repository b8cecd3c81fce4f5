"""``cli_exit``: the command line run in-process, for tests that check its exit code and output
(with capsys) without starting a process."""

from __future__ import annotations

from splitbrain.cli import main


def cli_exit(args: list[str]) -> int:
    """Run the command line in-process; its exit code."""
    try:
        main(args)
    except SystemExit as e:
        return e.code or 0
    return 0
