"""The catalogue of planted bugs: classic mistakes of Dynamo- and Paxos-style stores that a node
switches on by name, so that the tester can measure what it catches (``splitbrain test --bug``,
``splitbrain calibrate``).

Rules:

- Every bug is declared here once: its name, the modes it applies to, one sentence saying what
  the node then does wrong, and the ``splitbrain test`` options of the run that should expose
  it (``splitbrain calibrate`` runs exactly that). Nothing else names a bug by a string literal: the node's code imports the constant.
- A bug is a small switch beside the code it alters (``if bugs.X in self.bugs``), read from the
  cluster config's ``bugs`` list through :func:`planted`, so that ``test.json`` and the
  reproduce command record it. A node with an empty list runs the correct protocol.
- :func:`check_bugs` is the one validation: an unknown name, or a bug not valid for the mode,
  is a :class:`ValueError` with one sentence saying what to do.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

# Names, one constant each (the code that plants a bug imports its constant).
STRONG_READ_ANY_REPLICA = "strong-read-any-replica"
READ_WITHOUT_LEASE = "read-without-lease"
LEASE_FROM_ACK_ARRIVAL = "lease-from-ack-arrival"
LEASE_ON_WALL_CLOCK = "lease-on-wall-clock"
NO_LEASE_WAIT = "no-lease-wait"
ACCEPT_WITHOUT_PREPARE = "accept-without-prepare"
APPLY_BEFORE_COMMIT = "apply-before-commit"
SERVE_BEFORE_CATCH_UP = "serve-before-catch-up"
CAS_AT_FORWARDER = "cas-at-forwarder"
ADD_AS_READ_MODIFY_WRITE = "add-as-read-modify-write"
RETRY_NON_IDEMPOTENT = "retry-non-idempotent"
INDEFINITE_AS_DEFINITE = "indefinite-as-definite"
PAXOS_ACK_BEFORE_FSYNC = "paxos-ack-before-fsync"
DYNAMO_ACK_BEFORE_FSYNC = "dynamo-ack-before-fsync"
SLOPPY_QUORUM_R1W1 = "sloppy-quorum-r1w1"
READ_REPAIR_OVERWRITES = "read-repair-overwrites"
HANDOFF_DROPS_HINTS = "handoff-drops-hints"
ANTI_ENTROPY_OVERWRITES = "anti-entropy-overwrites"
VV_CONCURRENT_AS_DESCENDANT = "vv-concurrent-as-descendant"
LWW_NO_TIEBREAK = "lww-no-tiebreak"


@dataclass(frozen=True)
class Bug:
    """One planted bug. ``run`` holds the ``splitbrain test`` options (TestOptions fields:
    mode, workload, nemesis, and maybe expect, nemesis_interval, concurrency, rate, keys,
    request_timeout_ms or op_timeout) of the run that should expose it."""

    name: str
    modes: tuple[str, ...]
    sentence: str
    run: Mapping[str, Any]

    @property
    def mode(self) -> str:
        """The mode of the exposing run."""
        return self.run["mode"]

    def command(self) -> str:
        """The exposing run as a command line."""
        args = ["splitbrain", "test"]
        for k, v in self.run.items():
            for item in (v if isinstance(v, tuple) else (v,)):
                args += ["--" + k.replace("_", "-"), str(item)]
        return shlex.join([*args, "--bug", self.name])


def _run(mode: str, workload: str, nemesis: str, **extra: Any) -> dict[str, Any]:
    return {"mode": mode, "workload": workload, "nemesis": nemesis, **extra}


_STRANDED_SET = _run("dynamodb", "set", "strand-follower", nemesis_interval=2.0, concurrency=20,
                     rate=200.0)
"""Adds from 20 clients at 200 ops/s (many in flight at each kill) under ``strand-follower``
every 2 s: a slot accepted only by the member away from the next election."""

CATALOGUE: dict[str, Bug] = {b.name: b for b in (
    Bug(STRONG_READ_ANY_REPLICA, ("dynamodb",),
        "a strong read is served by whichever replica receives it",
        _run("dynamodb", "register", "partition")),
    Bug(READ_WITHOUT_LEASE, ("dynamodb",),
        "the leader serves strong reads without holding its lease",
        _run("dynamodb", "register", "partition")),
    Bug(LEASE_FROM_ACK_ARRIVAL, ("dynamodb",),
        "the lease is counted from when a heartbeat ack arrives, not from when the heartbeat "
        "was sent",
        # The old leader must keep receiving acks, late, while it cannot tell its group it
        # leads (docs/detection.md, "Blind spots"); the overlap lasts about a second, while
        # the old leader's clients mostly wait on writes it cannot commit: more clients. (With
        # --keys 2 it caught 2 of 5 seeds, with --keys 32 1 of 5: the default 4 stays.) With
        # 30 clients 4 of 10 faults of 30 s runs exposed it (3 of 5 seeds), 11 of 25 of 60 s
        # runs (4 of 5); with 60 clients 28 of 50 faults of 60 s runs (10 of 10 seeds); 100
        # clients did no better (15 of 25).
        _run("dynamodb", "register", "leader-one-way", concurrency=60, rate=200.0)),
    Bug(LEASE_ON_WALL_CLOCK, ("dynamodb",),
        "leases and heartbeats are timed on the wall clock",
        # A wall-clock lease outlasts its grants only on a leader whose clock steps back while
        # its group, which it cannot hear, elects another. With 10 clients (2 at that leader,
        # 0 to 4 strong reads there in a fault's overlap) 8 of 15 faults of 30 s runs exposed
        # it (4 of 5 seeds); with 30 clients and the fault on the leader of the most
        # partitions, 46 of 60 faults of 60 s runs (10 of 10 seeds).
        _run("dynamodb", "register", "leader-clock", concurrency=30, rate=200.0)),
    Bug(NO_LEASE_WAIT, ("dynamodb",),
        "a new leader does not wait out the old leader's lease",
        # The acceptors' refusal matters only when the leader keeps its lease through nodes a
        # candidate also asks: the bridge and majorities-ring topologies. Each overlap of two
        # leaders lasts a heartbeat or so: more clients read meanwhile.
        _run("dynamodb", "register", "bridge", concurrency=20, rate=200.0)),
    Bug(ACCEPT_WITHOUT_PREPARE, ("dynamodb",),
        "a new leader skips phase 1's recovery of accepted values",
        _run("dynamodb", "set", "isolate-leader,kill")),
    Bug(APPLY_BEFORE_COMMIT, ("dynamodb",),
        "followers apply entries when accepted, before they are chosen",
        # A slot only the stranded follower accepted (its leader and the other follower killed
        # before their sync) is chosen differently by the two restarted: it diverges. The set
        # keeps an add applied on one replica only visible.
        _STRANDED_SET),
    Bug(SERVE_BEFORE_CATCH_UP, ("dynamodb",),
        "a new leader serves before the slots recovered in phase 1 are committed",
        # Only a new leader that lags its predecessor, leased by a follower whose hb ack
        # overtakes its accepts (first batch lost, its disk stalled): lag-successor. In the
        # simulator 4 of seeds 1-100 catch it at 50 ops/s with a fault every 2 s in sim --bug's
        # 10 virtual s (500 ops); 6 of 100 in 20 s (1,000 ops), and 0 of those 100 without the
        # bug; in 20 s, 2 of 50 with a fault every 4 s, 1 of 50 with 30 clients, 0 of 50 with
        # 1 or 2 keys, the set workload, 25 ops/s or 100 ops/s (30 clients).
        _run("dynamodb", "register", "lag-successor", nemesis_interval=2.0, rate=50.0)),
    Bug(CAS_AT_FORWARDER, ("dynamodb",),
        "a conditional write's condition is evaluated at the forwarding node on its possibly "
        "stale state",
        _run("dynamodb", "register", "partition")),
    Bug(ADD_AS_READ_MODIFY_WRITE, ("dynamodb",),
        "atomic add and add-to-set are a read followed by a put",
        _run("dynamodb", "counter", "none")),
    Bug(RETRY_NON_IDEMPOTENT, ("dynamodb",),
        "a forwarder resends a timed-out write to another replica",
        # A forwarded write must outlive the forwarder's budget at a leader that commits it.
        # Eight keys, so that the slowed leader leads some counter's partition.
        _run("dynamodb", "counter", "leader-latency", keys=8)),
    Bug(INDEFINITE_AS_DEFINITE, ("dynamodb",),
        "in-flight writes of a deposed leader are reported as definitely failed",
        # The acks of proposals a majority accepted must be lost, not held (a held cut
        # delivers them on the heal ahead of the new ballot: 0 of 10 seeds): reject-leader.
        # The old leader's clients must still wait when the new ballot reaches it (the
        # interval plus the inbound-only phase, plus reconnecting, inside the 9 s budget);
        # the set judges each element (a counter's indeterminate adds hide a failed one).
        _run("dynamodb", "set", "reject-leader", nemesis_interval=5.0, concurrency=30,
             rate=200.0, request_timeout_ms=10000, op_timeout=12.0)),
    Bug(PAXOS_ACK_BEFORE_FSYNC, ("dynamodb",),
        "acceptors answer before their state is synced",
        # An acknowledged accept is lost when every acceptor that holds it dies before its
        # sync or is away from the next election: strand-follower stalls two members' disks
        # (so their unsynced window is 0.05-0.3 s, not a 50 ms tick), kills them and keeps the
        # third away while they elect. (kill-owners every 2 s caught 4 of 5.)
        _STRANDED_SET),
    Bug(DYNAMO_ACK_BEFORE_FSYNC, ("dynamo", "lww"),
        "replicas and coordinators acknowledge before syncing",
        _run("dynamo", "set", "kill-owners")),
    Bug(SLOPPY_QUORUM_R1W1, ("dynamo", "lww"),
        "reads and writes wait for one replica whatever R and W say",
        # Under partitions the correct store (R=W=2, sloppy) is stale too, so no --expect:
        # the quorum checker judges only reads outside fault windows by R+W>N's promise, and
        # replies that count fewer than R or W replicas.
        _run("lww", "register", "partition")),
    Bug(READ_REPAIR_OVERWRITES, ("dynamo",),
        "read repair replaces a replica's versions instead of merging them",
        _run("dynamo", "set", "latency,partition")),
    Bug(HANDOFF_DROPS_HINTS, ("dynamo",),
        "a hint is deleted before its owner acknowledged it",
        # A hint is handed to an owner that came back on a stalled disk and crashes again
        # before it could make the hint durable.
        _run("dynamo", "set", "flap-owners")),
    Bug(ANTI_ENTROPY_OVERWRITES, ("dynamo", "lww"),
        "Merkle anti-entropy replaces instead of merging",
        # An exchange loses elements only when it runs before hints and read repair merged a
        # partition's two sides back: more, shorter partitions (each heal is a chance).
        _run("dynamo", "set", "partition", nemesis_interval=2.0)),
    Bug(VV_CONCURRENT_AS_DESCENDANT, ("dynamo",),
        "the version-vector comparison treats some concurrent versions as descendants",
        _run("dynamo", "register", "partition")),
    Bug(LWW_NO_TIEBREAK, ("lww",),
        "coarse (1 s) local timestamps and no tie-break between equal ones",
        _run("lww", "register", "none")),
)}


def check_bugs(names: Iterable[str], mode: str) -> list[str]:
    """``names`` as a list without repeats, after checking each is in the catalogue and valid
    for ``mode``. Raises :class:`ValueError` with one sentence otherwise."""
    chosen: list[str] = []
    for name in names:
        bug = CATALOGUE.get(name)
        if bug is None:
            raise ValueError(f"no planted bug is named {name!r}; 'splitbrain test --bug list' "
                             f"prints the catalogue")
        if mode not in bug.modes:
            raise ValueError(f"the bug {name} is planted in mode {' or '.join(bug.modes)}, not "
                             f"{mode}; choose --mode {bug.modes[0]} or another bug")
        if name not in chosen:
            chosen.append(name)
    return chosen


def planted(config: Any) -> frozenset[str]:
    """The bugs switched on in the node config ``config`` (none when it has no ``bugs``)."""
    return frozenset(getattr(config, "bugs", None) or ())
