"""What a local cluster leaves on the machine, recorded so that nothing outlives its tester.

Every local cluster writes ``<root>/state.json``: its owner (the tester's pid and start time,
or ``null`` for a detached ``splitbrain cluster up``), the processes it started (nodes, proxy)
and the network namespaces and interfaces it created. It also registers its root in a
machine-wide registry directory (``$SPLITBRAIN_REGISTRY``, default
``/tmp/splitbrain-<uid>/clusters``). Before a cluster starts, :func:`reap_orphans` tears down
every registered cluster whose owner is dead: this is what cleans up after a tester that was
SIGKILLed (its nodes also die with it through PR_SET_PDEATHSIG; namespaces do not).
Only processes proven ours (same start time, the cluster root in their command line) are
signalled.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Iterator

from splitbrain.harness.process import Proc, is_ours, start_time

STATE_FILE = "state.json"


def real_uid() -> int:
    """This user's uid outside any user namespace (a non-root tester runs as "root" inside
    ``unshare --user --map-root-user``, but must keep its own registry)."""
    uid = os.getuid()
    try:
        for line in Path("/proc/self/uid_map").read_text().splitlines():
            inside, outside, count = map(int, line.split())
            if inside <= uid < inside + count:
                return outside + uid - inside
    except (OSError, ValueError):
        pass
    return uid


def registry_dir() -> Path:
    env = os.environ.get("SPLITBRAIN_REGISTRY")
    d = Path(env) if env else Path(tempfile.gettempdir()) / f"splitbrain-{real_uid()}" / "clusters"
    d.mkdir(parents=True, exist_ok=True)
    return d


@contextlib.contextmanager
def registry_lock() -> Iterator[None]:
    """Serialises reaping, registration and network-namespace allocation across testers."""
    with open(registry_dir() / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _entry(root: Path) -> Path:
    digest = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:16]
    return registry_dir() / f"{digest}.json"


def me() -> dict[str, int]:
    pid = os.getpid()
    return {"pid": pid, "start": start_time(pid) or -1}


def read_state(root: Path) -> dict[str, Any] | None:
    try:
        return json.loads((root / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None


def write_state(root: Path, state: dict[str, Any]) -> None:
    """Atomically records ``state`` and registers ``root``."""
    tmp = root / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(state, indent=1))
    tmp.replace(root / STATE_FILE)
    _entry(root).write_text(json.dumps({"root": str(root.resolve())}))


def unregister(root: Path) -> None:
    with contextlib.suppress(OSError):
        (root / STATE_FILE).unlink()
    with contextlib.suppress(OSError):
        _entry(root).unlink()


def live(root: Path, state: dict[str, Any]) -> bool:
    """A cluster is live while its tester runs; a detached one (no owner) while any of its
    processes does."""
    owner = state.get("owner")
    if owner is not None:
        return start_time(owner["pid"]) == owner["start"]
    marker = str(root.resolve())
    return any(is_ours(p["pid"], p["start"], marker) for p in state.get("procs", {}).values())


def net_namespace() -> str:
    """The identity of this process's network namespace (``net:[inode]``)."""
    try:
        return os.readlink("/proc/self/ns/net")
    except OSError:
        return ""


def remove_network(pieces: dict[str, Any]) -> list[str]:
    """Delete a netns network: first abort every socket of this namespace still connected to
    its ``subnet`` (so no retransmission or FIN can follow the default route off the machine
    once the tester's veth is gone), then the ``ifaces`` and ``netns``. Returns what was
    removed."""
    removed = []
    if pieces.get("subnet"):
        subprocess.run(["ss", "-K", "dst", pieces["subnet"]], capture_output=True)
    for iface in pieces.get("ifaces", []):
        if subprocess.run(["ip", "link", "del", iface], capture_output=True).returncode == 0:
            removed.append(f"interface {iface}")
    for ns in pieces.get("netns", []):
        if subprocess.run(["ip", "netns", "del", ns], capture_output=True).returncode == 0:
            removed.append(f"namespace {ns}")
    return removed


def teardown(root: Path, state: dict[str, Any]) -> list[str]:
    """Kill the processes, delete the namespaces and interfaces ``state`` lists; returns what
    was removed (for the caller to report). Namespaces and interfaces are names, so they are
    deleted only from the network namespace they were made in (a tester that ran in a user
    namespace of its own took them with it)."""
    removed = []
    marker = str(root.resolve())
    procs = [Proc(p["pid"], p["start"]) for p in state.get("procs", {}).values()]
    for proc in procs:
        if is_ours(proc.pid, proc.start, marker):
            proc.terminate_sync(grace=0.5)
            removed.append(f"pid {proc.pid}")
    if state.get("made_in", net_namespace()) != net_namespace():
        unregister(root)
        return removed
    removed += remove_network(state)
    unregister(root)
    return removed


def reap_orphans() -> list[str]:
    """Tear down every registered cluster that is no longer live (its tester died, or every
    process of a detached cluster did). Call with the registry lock held. Returns what was
    removed."""
    removed = []
    for entry in sorted(registry_dir().glob("*.json")):
        try:
            root = Path(json.loads(entry.read_text())["root"])
        except (OSError, ValueError, KeyError):
            entry.unlink(missing_ok=True)
            continue
        state = read_state(root)
        if state is None:
            entry.unlink(missing_ok=True)
        elif not live(root, state):
            removed += teardown(root, state)
    return removed


def registered_states() -> list[dict[str, Any]]:
    """The state of every registered cluster (to avoid clashing namespace names)."""
    states = []
    for entry in registry_dir().glob("*.json"):
        with contextlib.suppress(OSError, ValueError, KeyError):
            state = read_state(Path(json.loads(entry.read_text())["root"]))
            if state is not None:
                states.append(state)
    return states
