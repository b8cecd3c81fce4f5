"""The seams of the harness, Jepsen's split of a test: the *database* (how a node is configured,
started, health-checked and logged), the *hosts* its processes run on (this machine, SSH), and
the *network* between them; plus the capabilities a nemesis may need of a running cluster.

Rules of this module:

1. It imports no implementation: only the standard library and :mod:`splitbrain.errors`.
   ``nemesis/`` and ``workloads/`` import this module (and the pure generators), never another
   harness module.
2. Everything that may cost a network round trip is ``async`` (``is_running`` over SSH is one).
3. Optional capabilities are separate Protocols (:class:`Killable`, :class:`Crashable`,
   :class:`Pausable`, :class:`ClockControl`, :class:`Introspectable`, :class:`LogSource`;
   of a network, :class:`LinkResets`). A fault kind names the ones it needs; code asks
   ``isinstance(cluster, Killable)`` and refuses with one sentence when the cluster lacks it.

A cluster the run loop drives is a :class:`Nodes` (names, client URLs, the network) that
implements some of the capabilities. :class:`splitbrain.harness.cluster.LocalCluster` implements
them all for local processes; :class:`splitbrain.harness.hostcluster.HostCluster` composes a
:class:`Database`, :class:`Hosts` and a :class:`Net`.
"""

from __future__ import annotations

import random
from abc import abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable, Mapping, Protocol, runtime_checkable

from splitbrain.errors import BadInput, TesterFailure

Link = tuple[str, str]
"""A directed link ``(a, b)``: the path node ``a`` uses to send to node ``b``."""


class NodeUnreachable(TesterFailure):
    """A node did not answer an admin request (it may be killed or paused)."""


@runtime_checkable
class Net(Protocol):
    """What the nemesis and the run loop may do to a cluster's network.

    ``kind`` names the implementation (``proxy``, ``netns``, ``firewall``; test.json records
    it); ``cuts`` is the set of directed links currently cut. Partitions cut peer traffic only:
    the tester's clients always reach every node (as in Jepsen).
    """

    kind: str
    cuts: frozenset[Link] = frozenset()

    @abstractmethod
    async def cut(self, links: Iterable[Link]) -> None:
        """Drop traffic on exactly these directed links from now on: replaces the current cut
        (links not listed are healed)."""

    @abstractmethod
    async def heal(self) -> None:
        """Restore every link: no cut, no delay, no loss."""

    @abstractmethod
    async def delay(self, links: Iterable[Link], seconds: float) -> None:
        """Delay every message on these directed links by ``seconds`` (0 removes the delay)."""

    async def loss(self, links: Iterable[Link], percent: int) -> None:
        """Drop ``percent`` % of the packets on these links at random (0 removes the loss).
        Only packet networks can; a TCP proxy cannot lose part of a byte stream."""
        raise BadInput(f"the {self.kind} network cannot drop individual packets; use --net netns "
                       f"for packet loss")

    @abstractmethod
    async def close(self) -> None:
        """Heal and release everything this network created. Idempotent."""

    def describe(self) -> dict[str, Any]:
        """This network's kind and parameters; test.json and the report record :attr:`kind`."""
        return {"kind": self.kind}


@runtime_checkable
class LinkResets(Protocol):
    """A :class:`Net` that can reset links, as a firewall's REJECT (a TCP RST), a middlebox
    restart or a keepalive timeout do: what a link holds is lost, not delayed. A plain
    :meth:`Net.cut` holds a link's messages and delivers them on the heal, in order."""

    async def reset(self, links: Iterable[Link]) -> None:
        """Break every connection on these directed links now: the messages they hold (sent,
        not yet delivered) are lost, and the sender reconnects for its next message."""

    async def reject(self, links: Iterable[Link]) -> None:
        """Cut exactly these links (replacing the current cut, as :meth:`Net.cut`) in reject
        style: reset them now, and until the next cut or heal every message sent on them is
        lost at once (a new connection is closed as soon as it opens) instead of held."""


@runtime_checkable
class Nodes(Protocol):
    """All the run loop needs of a started cluster: the node names in order, each node's client
    URL (reachable from the tester whatever the partitions), and the network between them."""

    names: list[str]
    net: Net

    def client_url(self, name: str) -> str: ...


@runtime_checkable
class Killable(Protocol):
    """Nodes whose processes can be killed and restarted (Jepsen's ``db/Kill``)."""

    async def kill(self, name: str) -> None:
        """Kill node ``name`` at once (no shutdown, unsynced data lost) and wait until it is
        gone. Killing a dead node does nothing."""

    async def restart(self, name: str) -> None:
        """Start node ``name`` again with its data dir and wait until it is healthy;
        :class:`TesterFailure` if it will not come up."""

    async def is_running(self, name: str) -> bool:
        """True while node ``name``'s process exists (paused or not)."""


@runtime_checkable
class Crashable(Protocol):
    """Nodes that can lose power (Jepsen's lazyfs): killed at once, and their storage cut back
    to what it had synced, so bytes written to the OS but not yet synced are lost too (a
    SIGKILL alone keeps them: the page cache survives a process)."""

    async def crash(self, name: str) -> None:
        """Kill node ``name`` at once, then drop what its storage wrote but had not synced;
        :meth:`Killable.restart` brings it back."""


@runtime_checkable
class Pausable(Protocol):
    """Nodes whose processes can be frozen and thawed (Jepsen's ``db/Pause``)."""

    async def pause(self, name: str) -> None:
        """Freeze node ``name``: it keeps its sockets but answers nothing."""

    async def resume(self, name: str) -> None:
        """Unfreeze node ``name``."""


@runtime_checkable
class ClockControl(Protocol):
    """Nodes whose clocks can be skewed: the wall clock's offset and the monotonic clock's
    rate (which lease and heartbeat timers read)."""

    async def set_clock_offset(self, name: str, seconds: float) -> None:
        """Set node ``name``'s wall-clock offset; :class:`NodeUnreachable` if it does not
        answer (killed, paused)."""

    async def set_clock_rate(self, name: str, rate: float) -> None:
        """Make node ``name``'s monotonic clock run at ``rate`` times real time (1 restores
        it); :class:`NodeUnreachable` if it does not answer."""


@runtime_checkable
class DiskControl(Protocol):
    """Nodes whose disks can be slowed: every storage sync of the node's current process
    starts late (a restart brings a normal disk back)."""

    async def set_sync_delay(self, name: str, seconds: float) -> None:
        """Make node ``name``'s syncs start ``seconds`` late (0 restores them);
        :class:`NodeUnreachable` if it does not answer."""


@runtime_checkable
class Introspectable(Protocol):
    """Nodes that report their view of the cluster (splitbrain's ``GET /admin/status``: each
    dynamodb partition's leader and replicas, the dynamo ring), which targeted faults read."""

    async def admin_status(self, name: str) -> dict[str, Any]:
        """Node ``name``'s status body; :class:`NodeUnreachable` if it does not answer."""


@runtime_checkable
class LogSource(Protocol):
    """Nodes whose logs the tester can collect into the run's store."""

    async def collect_logs(self, dest: Path) -> None:
        """Copy every node's log to ``dest/nodes/<name>.log``."""


Capability = type
"""One of the capability Protocols above (for :func:`require`)."""

CAPABILITY_NAMES: dict[Capability, str] = {
    Killable: "nodes that can be killed and restarted",
    Crashable: "nodes whose storage can lose what it had not synced (local splitbrain nodes)",
    Pausable: "nodes that can be paused and resumed",
    ClockControl: "nodes whose clocks can be skewed",
    DiskControl: "nodes whose disks can be slowed",
    Introspectable: "nodes that report their partitions' leaders and their ring",
    LogSource: "nodes whose logs can be collected",
    LinkResets: "a network that can reset links (--net proxy, or the simulator)",
}


def require(cluster: object, capability: Capability, who: str, instead: str, *,
            what: str = "cluster") -> None:
    """Refuse, with one sentence, a ``who`` (e.g. "the kill nemesis") that needs
    ``capability`` of a cluster (or of its network, ``what="network"``) that lacks it;
    ``instead`` says what to do."""
    if not isinstance(cluster, capability):
        raise BadInput(f"{who} needs {CAPABILITY_NAMES[capability]}; the "
                       f"{type(cluster).__name__} {what} has none; {instead}")


RandomSource = Callable[[str, "int | str"], random.Random]
"""Where a run's seeded generators come from: ``source(name, seed)`` is the generator named
``name`` (the runner's ``"workload"`` and ``"nemesis"``; the simulator names its own) seeded
with ``seed``. :func:`seeded` unless the simulator records or plays a run's draws
(:mod:`splitbrain.sim.draws`)."""


def seeded(name: str, seed: int | str) -> random.Random:
    """The plain :data:`RandomSource`: ``random.Random(seed)``, whatever the name."""
    return random.Random(seed)


NemesisRecorder = Callable[[str, str, Any], Awaitable[None] | None]
"""How a fault schedule reports each op: ``record(type, f, value)``, type ``invoke`` or
``info``."""


class FaultSchedule(Protocol):
    """What the run loop needs of a nemesis schedule: inject faults for ``duration`` seconds,
    reporting each op; then heal everything. ``active`` is the fault in force, for the
    display."""

    active: Any

    async def run(self, cluster: Any, rng: Any, record: NemesisRecorder,
                  duration: float) -> None: ...

    async def heal(self, cluster: Any, record: NemesisRecorder) -> None: ...


# -- database x hosts ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """Node ``name`` runs on host ``host`` in ``directory`` (a path on that host), listening on
    ``address`` (which the tester and the other nodes reach) at ``client_port`` and
    ``peer_port``."""

    name: str
    host: str
    address: str
    directory: str
    client_port: int = 8000
    peer_port: int = 9000


def placed(placements: Mapping[str, Placement], name: str, what: str = "node") -> Placement:
    """The placement of ``name``; a name the cluster does not have raises ValueError naming
    ``what`` it was looked up as and the names there are."""
    try:
        return placements[name]
    except KeyError:
        raise ValueError(f"no {what} named {name!r}; the cluster has "
                         f"{', '.join(placements)}") from None


@runtime_checkable
class Database(Protocol):
    """The system under test, independent of where it runs. Required: :meth:`setup` (the
    placements are fixed from then on), :meth:`files`, :meth:`command`, :meth:`healthy`,
    :meth:`client_url` and :attr:`log_file`. A database that can also skew clocks implements
    :class:`ClockControl`."""

    log_file: str
    """The file, relative to a node's directory, its stdout and stderr go to."""

    def setup(self, placements: list[Placement]) -> None:
        """Fix which node runs where (called once, before anything starts)."""

    def describe(self) -> dict[str, Any]:
        """What test.json records of this database (e.g. its config)."""

    def files(self, name: str) -> dict[str, bytes]:
        """Files to write into node ``name``'s directory before it starts (path relative to
        the directory -> contents)."""

    def command(self, name: str, python: str) -> list[str]:
        """The argv that runs node ``name``, ``python`` being the interpreter that has this
        splitbrain installed on the node's host."""

    async def healthy(self, name: str) -> bool:
        """True once node ``name`` answers its health check."""

    def client_url(self, name: str) -> str:
        """Node ``name``'s client API URL."""


@dataclass(frozen=True)
class CommandResult:
    """What a command run on a host returned."""

    code: int
    out: str
    err: str


@runtime_checkable
class Hosts(Protocol):
    """Where processes run (Jepsen's ``Remote``): start named daemons, signal them, check them,
    fetch their files, run a command. A daemon is named by the caller (one name per host is
    unique across the hosts) and lives in :meth:`node_dir`. :meth:`setup` tears down what a
    previous tester left (teardown before setup) and prepares the hosts; :meth:`teardown`
    stops every daemon this backend can find, idempotently; :meth:`close` releases
    connections."""

    hosts: list[str]

    async def setup(self) -> None: ...

    def python(self, host: str) -> str:
        """The interpreter on ``host`` that runs splitbrain (valid after :meth:`setup`)."""

    def node_dir(self, host: str, name: str) -> str:
        """The directory of daemon ``name`` on ``host`` (a path on that host)."""

    def address(self, host: str) -> str:
        """The address of ``host`` that the tester and the other hosts reach."""

    async def put(self, host: str, path: str, data: bytes) -> None:
        """Write ``data`` to ``path`` on ``host`` (parent directories created)."""

    async def start(self, host: str, name: str, argv: list[str], log: str) -> None:
        """Start ``argv`` as daemon ``name`` in its :meth:`node_dir`, in a session of its own,
        stdout and stderr appended to ``log`` (relative to that directory), its pid
        recorded."""

    async def signal(self, host: str, name: str, sig: int) -> None:
        """Send ``sig`` to daemon ``name``; nothing when it is not running."""

    async def is_running(self, host: str, name: str) -> bool:
        """True while daemon ``name``'s process exists (stopped or not)."""

    async def fetch(self, host: str, path: str, dest: Path) -> bool:
        """Copy file ``path`` on ``host`` to ``dest``; False when it does not exist."""

    async def run(self, host: str, argv: list[str], *, input: bytes | None = None,
                  timeout: float = 30.0) -> CommandResult:
        """Run ``argv`` on ``host`` as root (through sudo when needed) and wait for it."""

    async def teardown(self) -> None: ...

    async def close(self) -> None: ...
