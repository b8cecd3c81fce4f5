"""OS processes the local harness starts: spawn with death-with-the-tester, signal, wait, and
recognise a process as one of ours again (for reaping orphans after the tester was killed).

A :class:`Proc` is identified by ``(pid, start)``, ``start`` being the kernel's start time of
the process (``/proc/PID/stat`` field 22), so a recycled pid is never mistaken for ours.
:func:`is_ours` additionally requires a marker string (e.g. the cluster's config path) in the
process's command line: nothing is ever signalled that we cannot prove we started.
Linux-only (``/proc``, ``prctl``), like the rest of the local harness' process control.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PR_SET_PDEATHSIG = 1


def start_time(pid: int) -> int | None:
    """The kernel start time of ``pid`` (clock ticks since boot), or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may contain spaces: split after it.
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] in ("Z", "X"):  # a zombie has finished; only its parent's wait is missing
        return None
    return int(fields[19])


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def is_ours(pid: int, start: int, marker: str) -> bool:
    """True when ``pid`` is still the process that started at ``start`` and its command line
    contains ``marker``."""
    return start_time(pid) == start and any(marker in a for a in cmdline(pid))


def _die_with(parent: int) -> None:
    """preexec_fn: ask the kernel to SIGKILL this child when the tester dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the tester died between fork and prctl
        os._exit(1)


@dataclass
class Proc:
    """A process we started. ``popen`` is set only in the process that spawned it (which must
    reap it); a detached cluster's CLI reaches its nodes by pid alone."""

    pid: int
    start: int
    popen: subprocess.Popen | None = None

    def alive(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        return start_time(self.pid) == self.start

    def exit_code(self) -> int | None:
        return self.popen.poll() if self.popen is not None else None

    def signal(self, sig: int) -> None:
        if self.alive():
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def wait_dead_sync(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    async def wait_dead(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.005)
        return True

    def terminate_sync(self, grace: float = 1.0) -> None:
        """SIGTERM (and SIGCONT, in case it is paused), then SIGKILL after ``grace`` seconds."""
        self.signal(signal.SIGTERM)
        self.signal(signal.SIGCONT)
        if not self.wait_dead_sync(grace):
            self.signal(signal.SIGKILL)
            self.wait_dead_sync(5.0)

    def to_dict(self) -> dict[str, int]:
        return {"pid": self.pid, "start": self.start}


def spawn(argv: list[str], log: Path, *, die_with_tester: bool, env: dict[str, str] | None = None,
          stdout: Any = None) -> Proc:
    """Start ``argv`` in its own session (so a Ctrl-C in the terminal reaches only the tester,
    which then stops the cluster in order), appending stdout and stderr to ``log``.
    ``die_with_tester`` makes the kernel kill it when the tester dies (PR_SET_PDEATHSIG);
    a detached cluster (``splitbrain cluster up``) leaves it off."""
    log.parent.mkdir(parents=True, exist_ok=True)
    parent = os.getpid()
    with open(log, "ab") as out:
        popen = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=stdout if stdout is not None else out,
            stderr=out, start_new_session=True, env=env, close_fds=True,
            preexec_fn=(lambda: _die_with(parent)) if die_with_tester else None)
    start = start_time(popen.pid)
    if start is None:  # it already exited: keep a start that matches nothing
        start = -1
    return Proc(popen.pid, start, popen)
