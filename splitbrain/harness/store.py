"""The store: where a run leaves everything needed to read, re-check or reproduce it
(DESIGN.md, "Store").

Layout::

    <store>/<test-name>/<YYYYmmddTHHMMSS>/
        test.json       every option, the seed, the network used, the reproducing command
        history.jsonl   streamed as the run goes (history.HistoryWriter)
        results.json    the composed Result's to_dict()
        nodes/<name>.log
        report.html, junit.xml   (written by splitbrain.reports)
    <store>/latest -> <test-name>/<YYYYmmddTHHMMSS>
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from splitbrain.checkers.result import Result
from splitbrain.errors import BadInput
from splitbrain.history import History, read_jsonl

TEST_FILE = "test.json"
HISTORY_FILE = "history.jsonl"
RESULTS_FILE = "results.json"
NODES_DIR = "nodes"


def new_run_dir(store: str | os.PathLike, test_name: str, *, now: float | None = None) -> Path:
    """Create ``<store>/<test_name>/<timestamp>/`` (see :func:`new_dir`) with its ``nodes/``
    and point ``<store>/latest`` at it."""
    run_dir = new_dir(store, test_name, now=now)
    (run_dir / NODES_DIR).mkdir()
    _point_latest(Path(store), run_dir)
    return run_dir


def new_dir(store: str | os.PathLike, name: str, *, now: float | None = None) -> Path:
    """Create ``<store>/<name>/<YYYYmmddTHHMMSS>/``, suffixed ``-2``, ``-3``... when two start
    within a second."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(now))
    parent = Path(store) / name
    parent.mkdir(parents=True, exist_ok=True)
    out, n = parent / stamp, 1
    while True:
        try:
            out.mkdir()
            return out
        except FileExistsError:
            n += 1
            out = parent / f"{stamp}-{n}"


def _point_latest(store: Path, run_dir: Path) -> None:
    link = store / "latest"
    tmp = store / f".latest.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(run_dir.relative_to(store))
    os.replace(tmp, link)


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically (a crash leaves the old file or the new)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def write_results(run_dir: Path, result: Result) -> None:
    write_json(run_dir / RESULTS_FILE, result.to_dict())


def load_test(run_dir: str | os.PathLike) -> dict[str, Any]:
    """The test.json of a stored run; BadInput when it is not a run directory."""
    path = Path(run_dir) / TEST_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise BadInput(f"{run_dir} is not a splitbrain run directory (it has no {TEST_FILE}); "
                       f"pass a directory under the store, such as store/latest") from None
    except (OSError, ValueError) as e:
        raise BadInput(f"{path} cannot be read as JSON ({e}); the run directory is damaged") \
            from None
    if not isinstance(data, dict) or not isinstance(data.get("options"), dict):
        raise BadInput(f"{path} lacks the 'options' object a run records; the run directory "
                       f"is damaged")
    return data


def load_history(run_dir: str | os.PathLike) -> History:
    """The validated history of a stored run (HistoryError names a bad line)."""
    return read_jsonl(Path(run_dir) / HISTORY_FILE)
