"""The command line: ``splitbrain test|check|report|serve|cluster|node``.

Exit codes, as Jepsen's: 0 valid, 1 invalid, 2 unknown, 254 bad arguments or input, 255 the
tester itself failed. Errors are one sentence, never a traceback.
"""

from __future__ import annotations

import sys

import click

from splitbrain.errors import BadInput, TesterFailure
from splitbrain.history import HistoryError

EXIT_VALID, EXIT_INVALID, EXIT_UNKNOWN = 0, 1, 2
EXIT_BAD_INPUT, EXIT_TESTER_FAILED = 254, 255


def exit_code_for(valid: object) -> int:
    """The exit code for a verdict: 0 valid, 1 invalid, 2 unknown."""
    if valid is True:
        return EXIT_VALID
    if valid is False:
        return EXIT_INVALID
    return EXIT_UNKNOWN


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="splitbrain")
def cli() -> None:
    """splitbrain: partition, kill, pause and skew a real cluster, then prove or refute its
    consistency."""


@cli.command()
@click.option("--config", "config_path", required=True, metavar="FILE",
              help="The cluster config (JSON) listing every node.")
@click.option("--name", required=True, help="This node's name in the config.")
def node(config_path: str, name: str) -> None:
    """Run one node of a cluster until SIGTERM (exit 255 if it cannot read its config or bind
    its ports)."""
    from splitbrain.db.node import run_node

    run_node(config_path, name)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: runs the click group and turns errors into one sentence and an
    exit code."""
    try:
        cli.main(args=argv, standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.Abort:
        click.echo("splitbrain: interrupted.", err=True)
        sys.exit(EXIT_TESTER_FAILED)
    except click.UsageError as e:
        hint = f" Run '{e.ctx.command_path} --help' for usage." if e.ctx is not None else ""
        click.echo(f"splitbrain: {e.format_message()}{hint}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except (BadInput, HistoryError) as e:
        click.echo(f"splitbrain: {e}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except TesterFailure as e:
        click.echo(f"splitbrain: {e}", err=True)
        sys.exit(EXIT_TESTER_FAILED)


if __name__ == "__main__":
    main()
