"""Hosts on this machine: the :class:`~splitbrain.harness.interfaces.Hosts` backend that runs
daemons as local processes, each "host" a folder under one root::

    ROOT/<host>/<name>/        daemon ``name``'s directory (its files, its log)
    ROOT/<host>/<name>/pid     "PID START" (start = kernel start time, see harness/process.py)

Daemons die with the tester (PR_SET_PDEATHSIG) and :meth:`LocalHosts.setup` kills any daemon a
previous tester left under ``ROOT`` (teardown before setup). Only processes proven ours (same
start time, the daemon's directory in their command line) are ever signalled.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from splitbrain.harness.interfaces import CommandResult
from splitbrain.harness.process import Proc, is_ours, spawn

PID_FILE = "pid"


class LocalHosts:
    """``hosts`` named folders under ``root``, all reached at ``127.0.0.1``."""

    def __init__(self, root: Path, hosts: list[str]):
        self.root = Path(root).resolve()
        self.hosts = list(hosts)
        self.procs: dict[tuple[str, str], Proc] = {}

    async def setup(self) -> None:
        await self.teardown()
        self.root.mkdir(parents=True, exist_ok=True)

    def python(self, host: str) -> str:
        return sys.executable

    def address(self, host: str) -> str:
        return "127.0.0.1"

    def node_dir(self, host: str, name: str) -> str:
        return str(self.root / host / name)

    async def put(self, host: str, path: str, data: bytes) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(data)

    async def start(self, host: str, name: str, argv: list[str], log: str) -> None:
        d = Path(self.node_dir(host, name))
        d.mkdir(parents=True, exist_ok=True)
        proc = spawn(argv, d / log, die_with_tester=True)
        self.procs[(host, name)] = proc
        (d / PID_FILE).write_text(f"{proc.pid} {proc.start}\n")

    def _proc(self, host: str, name: str) -> Proc | None:
        proc = self.procs.get((host, name))
        if proc is not None:
            return proc
        return _recorded(Path(self.node_dir(host, name)))

    async def signal(self, host: str, name: str, sig: int) -> None:
        proc = self._proc(host, name)
        if proc is not None:
            proc.signal(sig)

    async def is_running(self, host: str, name: str) -> bool:
        proc = self._proc(host, name)
        return proc is not None and proc.alive()

    async def fetch(self, host: str, path: str, dest: Path) -> bool:
        if not Path(path).is_file():
            return False
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
        return True

    async def run(self, host: str, argv: list[str], *, input: bytes | None = None,
                  timeout: float = 30.0) -> CommandResult:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(proc.communicate(input), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return CommandResult(-signal.SIGKILL, "", f"timed out after {timeout:g} s")
        return CommandResult(proc.returncode or 0, out.decode(errors="replace"),
                             err.decode(errors="replace"))

    async def teardown(self) -> None:
        procs = list(self.procs.values())
        procs += [p for p in map(_recorded, self.root.glob("*/*")) if p is not None]
        for proc in procs:
            proc.signal(signal.SIGKILL)
            proc.signal(signal.SIGCONT)
        for proc in procs:
            await proc.wait_dead(5.0)
        self.procs.clear()

    async def close(self) -> None:
        pass


def _recorded(directory: Path) -> Proc | None:
    """The daemon whose pid file is in ``directory``, if it is still running and ours."""
    try:
        pid, start = map(int, (directory / PID_FILE).read_text().split())
    except (OSError, ValueError):
        return None
    return Proc(pid, start) if is_ours(pid, start, str(directory)) else None
