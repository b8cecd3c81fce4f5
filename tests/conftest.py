"""What every test shares. Helpers that tests import live beside this file as plain modules
(tests/README.md lists them); this file holds the fixtures that apply to every test:

* ``own_registry``: each test gets its own cluster registry, so nothing it starts is reaped by,
  or reaps, anything outside it (the developer's own runs, another test);
* ``processes_need_the_integration_mark``: a test that starts a process must be marked
  ``integration``, so that ``-m "not integration"`` stays a fast, process-free suite;

a 120-s timeout for every test that starts no process (integration tests keep pyproject's
300 s, or their own ``timeout`` mark), so a unit test stuck in a loop fails in two minutes;

one rerun for a test that fails (pytest-rerunfailures): timing on a loaded 2-core machine
makes a few real-cluster and asyncio tests flake about once in a thousand, and a flake should
not cost a whole CI run. A rerun is never silent: the summary line counts it ("1 rerun") and
names the test, which is a flake to fix; a test that fails twice fails the run;

and the Hypothesis profile: derandomized on CI (CI=true), so a red build reproduces.
"""

from __future__ import annotations

import os
import signal
import subprocess
from typing import Any

import pytest
from hypothesis import settings

# A suite started as a background job of a non-interactive shell (`make test &`, some CI
# runners) inherits SIGINT ignored, or blocked, and passes that on to every process a test
# starts; Python then installs no Ctrl-C handler, and the tests that Ctrl-C a tester would
# wait for an exit that cannot come. Give the suite, and so its children, the default.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI") == "true":
    settings.load_profile("ci")

UNIT_TIMEOUT = 120  # seconds


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if not (item.get_closest_marker("integration") or item.get_closest_marker("timeout")):
            item.add_marker(pytest.mark.timeout(UNIT_TIMEOUT))
        if not item.get_closest_marker("flaky"):
            item.add_marker(pytest.mark.flaky(reruns=1))


@pytest.fixture(autouse=True)
def own_registry(tmp_path, monkeypatch):
    """A cluster registry of the test's own (SPLITBRAIN_REGISTRY under its tmp_path)."""
    monkeypatch.setenv("SPLITBRAIN_REGISTRY", str(tmp_path / "registry"))


@pytest.fixture(autouse=True)
def processes_need_the_integration_mark(request, monkeypatch):
    """Fail a test that starts a process (subprocess, asyncio subprocess) without the
    ``integration`` mark, naming the command and the fix."""
    if request.node.get_closest_marker("integration"):
        return

    def refuse(self: subprocess.Popen, args: Any, *rest: Any, **kwargs: Any) -> None:
        shown = " ".join(map(str, args)) if isinstance(args, (list, tuple)) else str(args)
        pytest.fail(f"{request.node.nodeid} starts a process ({shown[:120]}) but is not marked "
                    f"integration; add @pytest.mark.integration (or a module pytestmark) so "
                    f"that -m 'not integration' stays free of processes.", pytrace=False)

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
