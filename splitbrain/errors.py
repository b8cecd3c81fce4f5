"""The two kinds of failure the command line distinguishes (DESIGN.md exit codes), and
:func:`read_json`, the one way a user's JSON file is read."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class BadInput(Exception):
    """The user's input is wrong (a flag, a file, a config): exit 254 with this one-sentence
    message, which names what is wrong and what to do."""

    exit_code = 254


class TesterFailure(Exception):
    """The tester itself could not do its job (a node that will not start, a dead cluster):
    exit 255 with this one-sentence message."""

    exit_code = 255


def read_json(path: str | os.PathLike, fix: str) -> Any:
    """The JSON value in the file at ``path``; BadInput otherwise, one sentence naming the file,
    what is wrong with it, and ``fix`` (what to do, e.g. "pass the replay.json of a shrunk sim
    run")."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise BadInput(f"cannot read {path} ({reason}); {fix}") from None
    except json.JSONDecodeError as e:
        raise BadInput(f"{path} is not valid JSON ({e.msg} at line {e.lineno}); {fix}") from None
