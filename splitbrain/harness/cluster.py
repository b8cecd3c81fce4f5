"""Cluster control: start, stop, kill, restart, pause and resume the nodes of a cluster, skew
their clocks and collect their logs (DESIGN.md, "The harness").

:class:`Cluster` is the base of clusters that implement every capability of
:mod:`splitbrain.harness.interfaces` (kill, pause, clock, logs) for splitbrain's own node; the
run loop and the nemesis see only those interfaces. Nodes are named, reached through
:meth:`Cluster.client_url`, and their network is :attr:`Cluster.net`.

:class:`LocalCluster` runs ``splitbrain node --config ROOT/cluster.json --name NAME`` processes
on this machine with everything under one folder ``ROOT``::

    ROOT/cluster.json      the config every node reads
    ROOT/state.json        what must be torn down (see splitbrain.harness.registry)
    ROOT/data/<name>/      each node's data dir
    ROOT/logs/<name>.log   each node's stdout and stderr, appended across restarts

Cleanup is guaranteed: ``async with`` stops everything on normal exit, exception and Ctrl-C;
node and proxy processes get PR_SET_PDEATHSIG so they die with a SIGKILLed tester; and every
start first reaps the clusters of dead testers (processes verified by start time and command
line, namespaces, interfaces).
"""

from __future__ import annotations

import asyncio
import atexit
import shutil
import signal
import sys
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from splitbrain.db.client import NodeClient
from splitbrain.db.config import ClusterConfig, local_config
from splitbrain.db.runtime import drop_unsynced
from splitbrain.errors import TesterFailure
from splitbrain.harness import registry
from splitbrain.harness.interfaces import Net, NodeUnreachable
from splitbrain.harness.net import LocalNet
from splitbrain.harness.networks import make_net
from splitbrain.harness.process import Proc, is_ours, spawn
from splitbrain.harness.splitbrain_nodes import set_clock, set_sync_delay


class Cluster(ABC):
    """A running cluster of named nodes.

    ``config`` is the cluster config the nodes run with, ``names`` the node names in order,
    ``net`` the network between them. Every method that takes a ``name`` raises ``ValueError``
    for a name not in ``names``.
    """

    config: ClusterConfig
    names: list[str]
    net: Net

    @abstractmethod
    async def start(self) -> None:
        """Start every node and wait until each answers ``GET /health``. If one will not, stop
        everything (a failed start leaves nothing behind) and raise :class:`TesterFailure`
        with one sentence naming the node and pointing at its log."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop every node and tear down the network. Idempotent; never raises for a node that
        is already gone."""

    @abstractmethod
    async def kill(self, name: str) -> None:
        """Kill node ``name`` at once (SIGKILL: no shutdown, unsynced data lost) and wait until
        it is gone. Killing a dead node does nothing."""

    @abstractmethod
    async def restart(self, name: str) -> None:
        """Start node ``name`` again with its data dir (killing it first if it runs) and wait
        until it is healthy; :class:`TesterFailure` if it will not come up."""

    @abstractmethod
    async def pause(self, name: str) -> None:
        """Freeze node ``name`` (SIGSTOP): it keeps its sockets but answers nothing."""

    @abstractmethod
    async def resume(self, name: str) -> None:
        """Unfreeze node ``name`` (SIGCONT)."""

    @abstractmethod
    async def is_running(self, name: str) -> bool:
        """True while node ``name``'s process exists (paused or not)."""

    @abstractmethod
    def client_url(self, name: str) -> str:
        """The base URL of node ``name``'s client API; the tester always reaches it, whatever
        the network partitions."""

    @abstractmethod
    async def collect_logs(self, dest: Path) -> None:
        """Copy every node's log to ``dest/nodes/<name>.log``."""

    async def set_clock_offset(self, name: str, seconds: float) -> None:
        """Set node ``name``'s wall-clock offset through ``PUT /admin/clock``. Raises
        :class:`NodeUnreachable` if the node does not answer (killed, paused)."""
        await self._set_clock(name, {"offset": seconds}, f"the clock offset {seconds:g} s")

    async def set_clock_rate(self, name: str, rate: float) -> None:
        """Make node ``name``'s monotonic clock run at ``rate`` (``PUT /admin/clock``).
        Raises :class:`NodeUnreachable` if the node does not answer."""
        await self._set_clock(name, {"rate": rate}, f"the clock rate {rate:g}")

    async def _set_clock(self, name: str, body: dict[str, float], what: str) -> None:
        self._check(name)
        await set_clock(self.client_url(name), name, body, what)

    async def set_sync_delay(self, name: str, seconds: float) -> None:
        """Make node ``name`` start every storage sync ``seconds`` late (``PUT /admin/disk``;
        a restart resets it). Raises :class:`NodeUnreachable` if the node does not answer."""
        self._check(name)
        await set_sync_delay(self.client_url(name), name, seconds)

    async def admin_status(self, name: str) -> dict[str, Any]:
        """Node ``name``'s ``GET /admin/status`` body (its gossip view in ``members``, ...).
        Raises :class:`NodeUnreachable` if the node does not answer."""
        self._check(name)
        async with NodeClient(self.client_url(name), timeout=1.0) as client:
            reply = await client.status()
        if reply.type != "ok":
            raise NodeUnreachable(f"node {name} did not answer GET /admin/status ({reply.error})")
        return reply.value

    def _check(self, name: str) -> None:
        if name not in self.names:
            raise ValueError(f"no node named {name!r}; the cluster has {', '.join(self.names)}")

    async def __aenter__(self) -> "Cluster":
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()


def node_command() -> list[str]:
    """The command that runs a node: this Python running splitbrain's CLI."""
    return [sys.executable, "-m", "splitbrain.cli", "node"]


class LocalCluster(Cluster):
    """Node processes on this machine (see the module docstring).

    ``command`` replaces :func:`node_command` (tests use stand-ins); ``detached`` leaves the
    cluster running after the tester exits (``splitbrain cluster up``): no death signal, no
    owner, stopped later through :func:`stop_detached`.
    """

    def __init__(self, config: ClusterConfig, root: Path, net: LocalNet, *,
                 command: list[str] | None = None, start_timeout: float = 20.0,
                 detached: bool = False):
        self.root = Path(root).resolve()
        self.config = config
        self.names = list(config.names)
        self.net = net
        self.command = command or node_command()
        self.start_timeout = start_timeout
        self.detached = detached
        self.procs: dict[str, Proc] = {}
        self._stopped = False
        self._registered = False
        net.on_state = self._save_state
        if not detached:
            atexit.register(self._stop_sync)

    # -- paths ------------------------------------------------------------------------------

    @property
    def config_path(self) -> Path:
        return self.root / "cluster.json"

    def log_path(self, name: str) -> Path:
        return self.root / "logs" / f"{name}.log"

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        try:
            await self._start()
        except BaseException:
            self._stop_sync()
            raise

    async def _start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with registry.registry_lock():
            registry.reap_orphans()
            if registry.read_state(self.root) is not None:
                raise TesterFailure(f"a cluster is already running in {self.root}; stop it "
                                    f"first (splitbrain cluster down --root {self.root})")
            self._registered = True
            self._save_state()  # registered before anything exists, so a crash is reapable
            self.config = await self.net.open(self.config, self.root, detached=self.detached)
            self._save_state()
        self.config.dump(self.config_path)
        for name in self.names:
            Path(self.config.node(name).data_dir).mkdir(parents=True, exist_ok=True)
            self._spawn(name)
        self._save_state()
        await asyncio.gather(*(self._wait_healthy(name) for name in self.names))

    def _save_state(self) -> None:
        net = self.net.state()
        registry.write_state(self.root, {
            "owner": None if self.detached else registry.me(),
            "net": self.net.kind,
            "made_in": registry.net_namespace(),
            "procs": {**net.get("procs", {}), **{n: p.to_dict() for n, p in self.procs.items()}},
            **{k: v for k, v in net.items() if k != "procs"},
        })

    def _spawn(self, name: str) -> None:
        argv = self.net.node_argv(name, [*self.command, "--config", str(self.config_path),
                                         "--name", name])
        self.procs[name] = spawn(argv, self.log_path(name), die_with_tester=not self.detached)

    async def _wait_healthy(self, name: str) -> None:
        proc = self.procs[name]
        deadline = time.monotonic() + self.start_timeout
        async with NodeClient(self.client_url(name), timeout=0.5) as client:
            while True:
                if not proc.alive():
                    raise TesterFailure(f"node {name} exited with code {proc.exit_code()} before "
                                        f"it became healthy; see its log at "
                                        f"{self.log_path(name)}{_last_line(self.log_path(name))}")
                if (await client.health()).type == "ok":
                    return
                if time.monotonic() > deadline:
                    raise TesterFailure(f"node {name} did not answer GET /health within "
                                        f"{self.start_timeout:g} s; see its log at "
                                        f"{self.log_path(name)}")
                await asyncio.sleep(0.05)

    async def stop(self) -> None:
        self._stop_sync()

    def _stop_sync(self) -> None:
        """Kill the nodes and tear down the network; run by stop(), and at interpreter exit if
        stop() never ran. Blocks for at most a second or two."""
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self._stop_sync)
        for proc in self.procs.values():
            proc.signal(signal.SIGTERM)
            proc.signal(signal.SIGCONT)
        deadline = time.monotonic() + 1.0
        for proc in self.procs.values():
            if not proc.wait_dead_sync(max(0.0, deadline - time.monotonic())):
                proc.signal(signal.SIGKILL)
                proc.wait_dead_sync(5.0)
        self.net.close_sync()
        if self._registered:
            registry.unregister(self.root)

    # -- faults -----------------------------------------------------------------------------

    async def kill(self, name: str) -> None:
        self._check(name)
        proc = self.procs[name]
        proc.signal(signal.SIGKILL)
        if not await proc.wait_dead(5.0):
            raise TesterFailure(f"node {name} (pid {proc.pid}) survived SIGKILL for 5 s")

    async def crash(self, name: str) -> None:
        """Kill node ``name`` and cut its log back to what it had synced (Crashable)."""
        await self.kill(name)
        drop_unsynced(self.config.node(name).data_dir)

    async def restart(self, name: str) -> None:
        await self.kill(name)
        self._spawn(name)
        self._save_state()
        await self._wait_healthy(name)

    async def pause(self, name: str) -> None:
        self._check(name)
        self.procs[name].signal(signal.SIGSTOP)

    async def resume(self, name: str) -> None:
        self._check(name)
        self.procs[name].signal(signal.SIGCONT)

    async def is_running(self, name: str) -> bool:
        self._check(name)
        return name in self.procs and self.procs[name].alive()

    def client_url(self, name: str) -> str:
        self._check(name)
        return self.config.node(name).client_url

    async def collect_logs(self, dest: Path) -> None:
        out = Path(dest) / "nodes"
        out.mkdir(parents=True, exist_ok=True)
        for path in (self.root / "logs").glob("*.log"):
            shutil.copyfile(path, out / path.name)


def _last_line(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return f" (last line: {lines[-1].strip()[:200]})" if lines else ""


def local_cluster(mode: str, nodes: int, root: Path, *, net: str | LocalNet = "proxy",
                  command: list[str] | None = None, start_timeout: float = 20.0,
                  detached: bool = False, delays: bool = False, **params: Any) -> LocalCluster:
    """A :class:`LocalCluster` of ``nodes`` nodes named n1..nN in ``mode``, with everything
    under ``root``. ``net`` is ``proxy``, ``netns`` or ``auto`` (the one chosen is
    ``cluster.net.kind``; ``delays`` makes a netns network able to delay links, see
    :mod:`splitbrain.harness.netns`), or a network already built (such as
    :class:`~splitbrain.harness.loopback.LoopbackNet`); ``params`` are cluster config fields
    (n, r, w, ...).
    Use it as ``async with local_cluster(...) as cluster:``."""
    root = Path(root).resolve()
    config = local_config(mode, nodes, root / "data", **params)
    built = make_net(net, delays=delays) if isinstance(net, str) else net
    return LocalCluster(config, root, built, command=command,
                        start_timeout=start_timeout, detached=detached)


# -- detached clusters (splitbrain cluster up | status | down) ----------------------------------


async def detached_status(root: Path) -> list[dict[str, Any]] | None:
    """Each node of the detached cluster in ``root``: ``name``, ``pid``, ``running``,
    ``healthy``, ``url``, ``log``; None when no cluster runs there."""
    root = Path(root).resolve()
    state = registry.read_state(root)
    if state is None or not (root / "cluster.json").exists():
        return None
    config = ClusterConfig.load(root / "cluster.json")
    marker, rows = str(root), []
    for spec in config.nodes:
        p = state.get("procs", {}).get(spec.name)
        running = p is not None and is_ours(p["pid"], p["start"], marker)
        healthy = False
        if running:
            async with NodeClient(spec.client_url, timeout=0.5) as client:
                healthy = (await client.health()).type == "ok"
        rows.append({"name": spec.name, "pid": p["pid"] if p else None, "running": running,
                     "healthy": healthy, "url": spec.client_url,
                     "log": str(root / "logs" / f"{spec.name}.log")})
    return rows


def stop_detached(root: Path) -> list[str] | None:
    """Stop the cluster in ``root`` (its nodes, proxy, namespaces); the data and logs stay.
    Returns what was removed, or None when no cluster was registered there."""
    root = Path(root).resolve()
    with registry.registry_lock():
        state = registry.read_state(root)
        return None if state is None else registry.teardown(root, state)
