"""System packages a test needs, from the one list .ci/setup installs (.ci/system-packages):
``need(command)`` returns the command's path, skips the test with the reason when it is missing,
and fails it on CI (CI=true), where .ci/setup should have installed it. Tests never install."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

LIST = Path(__file__).resolve().parents[1] / ".ci" / "system-packages"
SBIN = os.pathsep.join(("/usr/local/sbin", "/usr/sbin", "/sbin"))


def packages() -> dict[str, tuple[str, str]]:
    """command -> (package, what needs it), as .ci/system-packages lists them."""
    rows = {}
    for line in LIST.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            command, package, needed_by = (line.split(None, 2) + [""])[:3]
            rows[command] = (package, needed_by.strip())
    return rows


def need(command: str) -> str:
    """The path of ``command``; skip (outside CI) or fail (on CI) the test when it is missing."""
    listed = packages()
    if command not in listed:
        raise LookupError(f"{command} is not in {LIST}; add a line for it there")
    package, _ = listed[command]
    path = shutil.which(command, path=os.pathsep.join((os.environ.get("PATH", ""), SBIN)))
    if path:
        return path
    why = f"{command} is not installed (package {package}; '.ci/setup --install' installs it)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why}, yet this is CI: .ci/run should have run .ci/setup first")
    pytest.skip(why)
