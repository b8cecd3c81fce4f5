"""Every Hosts backend (local processes, SSH on lab hosts) passes the same contract: files in
and out, commands with their exit codes, daemons started, signalled, seen running or not,
torn down, and the daemons of a tester that vanished torn down by the next one's setup."""

from __future__ import annotations

import asyncio
import shutil
import signal
import time
import uuid
from pathlib import Path

import pytest
from lab_hosts import lab, ssh_options  # noqa: F401 (lab is a fixture)

from splitbrain.harness.interfaces import Hosts
from splitbrain.harness.localhosts import LocalHosts
from splitbrain.remote.ssh import SshHosts

pytestmark = pytest.mark.integration


def make_local(tmp_path: Path, request) -> tuple[callable, list[str]]:
    return (lambda: LocalHosts(tmp_path / "hosts", ["h1", "h2"])), ["h1", "h2"]


def make_ssh(tmp_path: Path, request) -> tuple[callable, list[str]]:
    built = request.getfixturevalue("lab")
    hosts = list(built["hosts"].values())[:2]
    remote = f"/tmp/sb-lab-conformance-{uuid.uuid4().hex[:12]}"
    request.addfinalizer(lambda: shutil.rmtree(remote, ignore_errors=True))  # the lab's hosts
    return (lambda: SshHosts(hosts, ssh_options(built, remote_dir=remote))), hosts  # share /


def make_netns(tmp_path: Path, request) -> tuple[callable, list[str]]:
    from splitbrain.harness import netns
    from splitbrain.harness.netnshosts import NetnsHosts

    reason = netns.unavailable_reason()
    if reason:
        pytest.skip(f"namespace hosts need network namespaces: {reason}")
    made: list[NetnsHosts] = []

    def make() -> NetnsHosts:
        made.append(NetnsHosts(tmp_path / "hosts", ["h1", "h2"]))
        return made[-1]

    # every instance's namespaces go, the "vanished" tester's too
    request.addfinalizer(lambda: [asyncio.run(h.close()) for h in made])
    return make, ["h1", "h2"]


BACKENDS = {"local": make_local, "netns": make_netns, "ssh": make_ssh}


async def until(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


def daemon(hosts: Hosts, host: str, name: str) -> list[str]:
    """A daemon whose command line names its directory, as the contract requires."""
    return ["python3", "-c", "import time; print('started', flush=True); time.sleep(60)",
            hosts.node_dir(host, name)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_files_and_commands(backend, tmp_path, request):
    make, names = BACKENDS[backend](tmp_path, request)

    async def scenario():
        hosts = make()
        await hosts.setup()
        try:
            host = names[0]
            path = f"{hosts.node_dir(host, 'f')}/sub/data.bin"
            await hosts.put(host, path, b"\x00bytes\n")
            assert await hosts.fetch(host, path, tmp_path / "got.bin")
            assert (tmp_path / "got.bin").read_bytes() == b"\x00bytes\n"
            assert not await hosts.fetch(host, path + ".missing", tmp_path / "none")
            result = await hosts.run(host, ["sh", "-c", "cat; echo err >&2; exit 3"],
                                     input=b"in\n")
            assert (result.code, result.out, result.err) == (3, "in\n", "err\n")
        finally:
            await hosts.teardown()
            await hosts.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("backend", BACKENDS)
def test_daemons_start_signal_stop(backend, tmp_path, request):
    make, names = BACKENDS[backend](tmp_path, request)

    async def scenario():
        hosts = make()
        await hosts.setup()
        try:
            a, b = names
            assert not await hosts.is_running(a, "d1")
            await hosts.signal(a, "d1", signal.SIGKILL)  # nothing to signal: does nothing
            await hosts.start(a, "d1", daemon(hosts, a, "d1"), "d.log")
            await hosts.start(b, "d2", daemon(hosts, b, "d2"), "d.log")
            assert await hosts.is_running(a, "d1") and await hosts.is_running(b, "d2")
            log = f"{hosts.node_dir(a, 'd1')}/d.log"

            async def started() -> bool:
                return (await hosts.fetch(a, log, tmp_path / "d.log")
                        and (tmp_path / "d.log").read_text() == "started\n")

            await until(started)
            await hosts.signal(a, "d1", signal.SIGSTOP)
            assert await hosts.is_running(a, "d1")  # stopped is still running
            await hosts.signal(a, "d1", signal.SIGCONT)
            await hosts.signal(a, "d1", signal.SIGKILL)
            await until(lambda: _not(hosts.is_running(a, "d1")))
            assert await hosts.is_running(b, "d2")
            await hosts.start(a, "d1", daemon(hosts, a, "d1"), "d.log")  # again, same dir
            assert await hosts.is_running(a, "d1")
            await hosts.teardown()
            assert not await hosts.is_running(a, "d1") and not await hosts.is_running(b, "d2")
        finally:
            await hosts.teardown()
            await hosts.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("backend", BACKENDS)
def test_setup_tears_down_what_a_vanished_tester_left(backend, tmp_path, request):
    make, names = BACKENDS[backend](tmp_path, request)

    async def scenario():
        first = make()
        await first.setup()
        await first.start(names[0], "left", daemon(first, names[0], "left"), "d.log")
        await first.close()  # no teardown: as if the tester had been killed
        second = make()
        await second.setup()
        try:
            assert not await second.is_running(names[0], "left")
        finally:
            await second.teardown()
            await second.close()

    asyncio.run(scenario())


async def _not(awaitable) -> bool:
    return not await awaitable
