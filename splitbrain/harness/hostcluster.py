"""A cluster composed as Jepsen composes a test: a :class:`Database` placed on :class:`Hosts`,
with a :class:`Net` between them (the seams of :mod:`splitbrain.harness.interfaces`).

:class:`HostCluster` starts every node as a daemon on its host (teardown of whatever a previous
tester left first: its daemons stopped, its cuts healed, each node's directory emptied, so a
test never starts from an earlier run's state), waits until each is healthy, and on :meth:`HostCluster.stop` (always run by
``async with``, on error and Ctrl-C too) heals the network, downloads every node's log to
``ROOT/logs/<name>.log`` and stops every daemon. It implements every capability the nemesis
may need: kill, restart, pause and resume by signal through the hosts, clock skew when the
database offers it, logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import time
from pathlib import Path
from typing import Any

from splitbrain.errors import TesterFailure
from splitbrain.harness.cluster import _last_line
from splitbrain.harness.interfaces import (ClockControl, Database, Hosts, Net, Placement,
                                           placed)

KILL_WAIT = 5.0


class HostCluster:
    """``database`` on ``hosts`` as ``placements`` say, joined by ``net``; local files (the
    downloaded logs) under ``root``."""

    def __init__(self, database: Database, hosts: Hosts, placements: list[Placement], net: Net,
                 root: Path, *, start_timeout: float = 30.0):
        self.database = database
        self.hosts = hosts
        self.placements = {p.name: p for p in placements}
        self.names = [p.name for p in placements]
        self.net = net
        self.root = Path(root).resolve()
        self.start_timeout = start_timeout
        self._stopped = False

    def log_path(self, name: str) -> Path:
        return self.root / "logs" / f"{name}.log"

    def describe(self) -> dict[str, Any]:
        return self.database.describe()

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Tear down what a previous tester left, start every node and wait until each is
        healthy; on any failure stop everything and re-raise."""
        try:
            await self.hosts.setup()
            await self.net.heal()  # a cut a killed tester left must not split this run
            self.database.setup(list(self.placements.values()))
            for p in self.placements.values():
                await self._wipe(p)
                for rel, data in self.database.files(p.name).items():
                    await self.hosts.put(p.host, f"{p.directory}/{rel}", data)
                await self._spawn(p)
            await asyncio.gather(*(self._wait_healthy(n) for n in self.names))
        except BaseException:
            await self.stop()
            raise

    async def _wipe(self, p: Placement) -> None:
        """Remove node ``p``'s directory: a test starts from empty data, never from what an
        earlier run on the same host left (restarts within a run keep it)."""
        result = await self.hosts.run(p.host, ["rm", "-rf", "--", p.directory])
        if result.code != 0:
            raise TesterFailure(f"cannot clear {p.directory} on host {p.host} for node "
                                f"{p.name} ({result.err.strip()}); remove it by hand")

    async def _spawn(self, p: Placement) -> None:
        argv = self.database.command(p.name, self.hosts.python(p.host))
        await self.hosts.start(p.host, p.name, argv, self.database.log_file)

    async def _wait_healthy(self, name: str) -> None:
        p = placed(self.placements, name)
        deadline = time.monotonic() + self.start_timeout
        while not await self.database.healthy(name):
            if not await self.hosts.is_running(p.host, name):
                await self._download_log(name)
                raise TesterFailure(f"node {name} on host {p.host} exited before it became "
                                    f"healthy; see its log at {self.log_path(name)}"
                                    f"{_last_line(self.log_path(name))}")
            if time.monotonic() > deadline:
                await self._download_log(name)
                raise TesterFailure(f"node {name} on host {p.host} did not become healthy "
                                    f"within {self.start_timeout:g} s; see its log at "
                                    f"{self.log_path(name)}")
            await asyncio.sleep(0.1)

    async def _download_log(self, name: str) -> None:
        p = placed(self.placements, name)
        with contextlib.suppress(OSError, TesterFailure):
            await self.hosts.fetch(p.host, f"{p.directory}/{self.database.log_file}",
                                   self.log_path(name))

    async def stop(self) -> None:
        """Heal the network, download the logs, stop every daemon, close the connections.
        Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        try:
            with contextlib.suppress(TesterFailure, OSError):
                await self.net.close()
            await asyncio.gather(*(self._download_log(n) for n in self.names))
        finally:
            try:
                await self.hosts.teardown()
            finally:
                await self.hosts.close()

    async def __aenter__(self) -> "HostCluster":
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()

    # -- capabilities -----------------------------------------------------------------------

    def client_url(self, name: str) -> str:
        placed(self.placements, name)
        return self.database.client_url(name)

    async def kill(self, name: str) -> None:
        p = placed(self.placements, name)
        await self.hosts.signal(p.host, name, signal.SIGKILL)
        deadline = time.monotonic() + KILL_WAIT
        while await self.hosts.is_running(p.host, name):
            if time.monotonic() > deadline:
                raise TesterFailure(f"node {name} on host {p.host} survived SIGKILL for "
                                    f"{KILL_WAIT:g} s")
            await asyncio.sleep(0.02)

    async def restart(self, name: str) -> None:
        await self.kill(name)
        await self._spawn(placed(self.placements, name))
        await self._wait_healthy(name)

    async def pause(self, name: str) -> None:
        await self.hosts.signal(placed(self.placements, name).host, name, signal.SIGSTOP)

    async def resume(self, name: str) -> None:
        await self.hosts.signal(placed(self.placements, name).host, name, signal.SIGCONT)

    async def is_running(self, name: str) -> bool:
        return await self.hosts.is_running(placed(self.placements, name).host, name)

    async def collect_logs(self, dest: Path) -> None:
        if not self._stopped:
            await asyncio.gather(*(self._download_log(n) for n in self.names))
        out = Path(dest) / "nodes"
        out.mkdir(parents=True, exist_ok=True)
        for path in (self.root / "logs").glob("*.log"):
            shutil.copyfile(path, out / path.name)


class ClockedHostCluster(HostCluster):
    """A :class:`HostCluster` whose database can skew its nodes' clocks."""

    async def set_clock_offset(self, name: str, seconds: float) -> None:
        placed(self.placements, name)
        assert isinstance(self.database, ClockControl)
        await self.database.set_clock_offset(name, seconds)

    async def set_clock_rate(self, name: str, rate: float) -> None:
        placed(self.placements, name)
        assert isinstance(self.database, ClockControl)
        await self.database.set_clock_rate(name, rate)


def host_cluster(database: Database, hosts: Hosts, placements: list[Placement], net: Net,
                 root: Path, **kwargs: Any) -> HostCluster:
    """A :class:`HostCluster`, with clock control when ``database`` offers it."""
    cls = ClockedHostCluster if isinstance(database, ClockControl) else HostCluster
    return cls(database, hosts, placements, net, root, **kwargs)

