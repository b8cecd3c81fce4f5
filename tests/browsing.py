"""A sample store of runs and ``splitbrain serve`` running on it, for the browser tests."""

from __future__ import annotations

import contextlib
import json
import os
import re
import selectors
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from report_samples import small_run
from splitbrain.checkers.result import Result, compose

EVIL_NAME = "<img src=x onerror=alert(1)>"  # a test name that is also a directory name


def make_store(root: Path) -> Path:
    """Three runs: an invalid one (oldest), a valid one, an unchecked one (newest); and
    ``latest`` pointing at the newest, as the harness leaves it."""
    small_run(root / "register-lww" / "20261126T100000")
    valid = small_run(root / EVIL_NAME / "20261126T110000")
    (valid / "results.json").write_text(json.dumps(compose({"reads": Result(True)}).to_dict()))
    fresh = small_run(root / "register-lww" / "20261126T120000")
    (fresh / "results.json").unlink()
    os.symlink("register-lww/20261126T120000", root / "latest")
    return root


def _bound_port(proc: subprocess.Popen, timeout: float) -> int:
    """The port ``serve --port 0`` printed it listens on (it binds before printing)."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            pytest.fail(f"serve printed no URL in {timeout:g} s")
    line = proc.stdout.readline()
    found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    if not found:
        proc.wait(timeout=10)
        pytest.fail(f"serve did not start: stdout {line!r}, stderr {proc.stderr.read()!r}")
    return int(found.group(1))


@contextlib.contextmanager
def serving(root: Path) -> Iterator[int]:
    """``splitbrain serve --port 0`` of ``root`` for the block, which gets the port the server
    bound and printed (no window where another process can take it); interrupted and reaped
    afterwards."""
    proc = subprocess.Popen([sys.executable, "-m", "splitbrain.cli", "serve", "--store",
                             str(root), "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        port = _bound_port(proc, timeout=30)
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10).close()
        yield port
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
