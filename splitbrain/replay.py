"""The replay file: one run's fault schedule and op sequence, written as ``replay.json`` into
the run directory of a failing seed ``splitbrain sim`` has shrunk, and played by ``splitbrain
sim --replay FILE`` (on the simulator: the same history, byte for byte) and ``splitbrain test
--replay FILE`` (on real node processes: timing differs, so the anomaly may or may not come
back).

Rules of the format (version 2):

1. One JSON object ``{"format": "splitbrain-replay", "version": 2, ...}``; a reader refuses
   any other format or version, and any missing or mistyped field, in one sentence. It also
   reads version 1 files (written before rule 9): they have no ``draws``.
2. ``options``: what a run needs beyond the schedule: ``mode``, ``workload``, ``nodes``,
   ``concurrency``, ``op_timeout`` and ``recovery`` (seconds), ``bugs`` (planted, by name),
   ``nemesis`` (the fault kinds the simulated world was drawn for, whichever faults were kept)
   and ``lying_disks`` (the simulator's planted fault; real nodes refuse it); optionally
   ``request_timeout_ms`` (the nodes' request budget; absent or null: the node's default),
   which a catalogue run may set and the played run must share.
3. ``seed``: the simulator's seed. With ``options`` it fixes the simulated world (links,
   clocks, disks); real nodes have their own.
4. ``faults``, in start order: ``{"kind", "f", "value", "start", "duration"}``: the kind's
   start op (``f`` and ``value``, as the history's nemesis invoke records it; a targeted kind
   picks its targets again when it starts), started ``start`` seconds after the workload
   began and stopped ``duration`` seconds later. Two faults of one kind never overlap.
5. ``ops``, in invoke order: ``{"process", "f", "key", "value", "consistency", "node",
   "time"}``. Client thread ``process % concurrency`` runs its ops in order, each once its
   previous op has completed and no earlier than ``time`` seconds after the workload began;
   the thread's node is the ``thread % nodes``-th (n1, n2, ...), which ``node`` names.
6. The workload phase ends when every op has completed and every fault has been stopped
   (bounded by :meth:`Replay.end`); then the cluster heals, recovers for ``recovery`` seconds
   and every node answers the ``final_reads`` (``{"f", "key", "consistency"}``).
7. ``expect``: the violation the recorded run showed (``checker``, ``type`` and ``key``, the
   key as Python's repr of it; :func:`violations`), which a replay is asked to reproduce.
8. ``dropped``: what shrinking removed besides faults and late ops: ``keys`` whose ops were
   all dropped, and how many ``ops`` that was.
9. ``draws``: null, or the simulated run's random draws (:mod:`splitbrain.sim.draws`): an
   object from a source's name (``world``, ``net``, ``workload``, ``nemesis``,
   ``node/<name>/<start>``) to its draws, numbers in [0, 1). With draws, every source of the
   simulated run plays them in order, and a source past its list (or not named) draws 0.0;
   with null, every source draws from the seed. Real nodes (``test --replay``) ignore them.

Times are seconds since the workload began, as JSON numbers; values are JSON values.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Iterable, Sequence

from splitbrain.checkers.result import Result
from splitbrain.errors import BadInput, read_json
from splitbrain.history import NEMESIS, History

FORMAT = "splitbrain-replay"
VERSION = 2
#: The versions a reader accepts (rule 1).
READS = (1, 2)
#: The name of the replay file in a run directory.
FILE = "replay.json"

Signature = tuple[str, str, str]
"""(checker, anomaly type, repr of the key) of one violation."""

Draws = dict[str, tuple[float, ...]]
"""Each source's random draws, by source name (rule 9)."""


def nontrivial(draws: dict[str, Sequence[float]]) -> int:
    """How many of ``draws`` are not 0.0, the draw a source plays past its list (rule 9)."""
    return sum(1 for seq in draws.values() for u in seq if u != 0.0)


def violations(result: Result) -> list[Signature]:
    """(checker, anomaly type, key) of each violation in ``result``, in its order."""
    return [(str(a.get("checker")), str(a.get("type")), repr(a.get("key")))
            for a in result.anomalies if a.get("severity", "violation") == "violation"]


def target(result: Result) -> Signature | None:
    """What a shrunk run must still show: the first violation (None when there is none)."""
    found = violations(result)
    return found[0] if found else None


@dataclass(frozen=True)
class Fault:
    """One fault: the start op of a kind, when it starts and how long it lasts (rule 4)."""

    kind: str
    f: str
    value: Any
    start: float
    duration: float


@dataclass(frozen=True)
class Op:
    """One client op as invoked (rule 5)."""

    process: int
    f: str
    key: Any
    value: Any
    consistency: str | None
    node: str | None
    time: float


@dataclass(frozen=True)
class FinalRead:
    """One read every node answers after healing."""

    f: str
    key: Any
    consistency: str | None


@dataclass(frozen=True)
class Replay:
    """A replay file's contents (see the module docstring)."""

    options: dict[str, Any]
    seed: int
    faults: tuple[Fault, ...]
    ops: tuple[Op, ...]
    final_reads: tuple[FinalRead, ...]
    expect: Signature | None = None
    dropped: dict[str, Any] = field(default_factory=lambda: {"keys": [], "ops": 0})
    draws: Draws | None = None

    @property
    def kinds(self) -> list[str]:
        """The fault kinds in play, in order of first use."""
        return list(dict.fromkeys(f.kind for f in self.faults))

    def end(self) -> float:
        """A bound on the workload phase (rule 6): the last op's time or fault's stop, plus
        one op timeout."""
        last = max([o.time for o in self.ops] + [f.start + f.duration for f in self.faults],
                   default=0.0)
        return last + float(self.options["op_timeout"])

    def keys(self) -> list[str]:
        """The repr of every key the ops touch, in order of first use."""
        return list(dict.fromkeys(repr(o.key) for o in self.ops))

    def only_keys(self, keys: Iterable[str]) -> "Replay":
        """This replay with only the ops and final reads of the keys whose reprs are in
        ``keys``; the other keys' ops are recorded in :attr:`dropped`."""
        wanted = set(keys)
        kept = tuple(o for o in self.ops if repr(o.key) in wanted)
        gone = {repr(o.key) for o in self.ops} - wanted
        return replace(self, ops=kept,
                       final_reads=tuple(r for r in self.final_reads if repr(r.key) in wanted),
                       dropped={"keys": sorted(set(self.dropped["keys"]) | gone),
                                "ops": self.dropped["ops"] + len(self.ops) - len(kept)})

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "options": self.options,
                "seed": self.seed, "faults": [asdict(f) for f in self.faults],
                "ops": [asdict(o) for o in self.ops],
                "final_reads": [asdict(r) for r in self.final_reads],
                "expect": dict(zip(("checker", "type", "key"), self.expect))
                if self.expect else None,
                "dropped": self.dropped,
                "draws": {name: list(seq) for name, seq in self.draws.items()}
                if self.draws is not None else None}

    def write(self, path: str | Path) -> Path:
        """Write this replay to ``path`` (JSON, one fault or op per line); returns the path."""
        d = self.to_dict()
        lines = ["{"]
        for name, value in d.items():
            if isinstance(value, list) and value:
                items = ",\n".join("    " + json.dumps(v, sort_keys=True) for v in value)
                lines.append(f'  "{name}": [\n{items}\n  ],')
            elif name == "draws" and value:  # one source a line
                items = ",\n".join(f"    {json.dumps(k)}: {json.dumps(v)}"
                                    for k, v in value.items())
                lines.append(f'  "{name}": {{\n{items}\n  }},')
            else:
                lines.append(f'  "{name}": {json.dumps(value, sort_keys=True)},')
        lines[-1] = lines[-1].rstrip(",")
        Path(path).write_text("\n".join(lines + ["}"]) + "\n")
        return Path(path)

    def describe(self) -> list[str]:
        """The schedule as a readable list: the faults, then the ops, one line each."""
        lines = [f"faults ({len(self.faults)}):"]
        lines += [f"  t={f.start:8.3f} s for {f.duration:.3f} s  {f.f} {_compact(f.value)}"
                  for f in self.faults] or ["  none"]
        lines.append(f"ops ({len(self.ops)}):")
        for o in self.ops:
            how = f" ({o.consistency})" if o.consistency else ""
            value = "" if o.value is None else f" {_compact(o.value)}"
            lines.append(f"  t={o.time:8.3f} s  p{o.process} on {o.node}  {o.f} "
                         f"{_compact(o.key)}{value}{how}")
        if self.dropped["ops"]:
            lines.append(f"dropped: {self.dropped['ops']} ops of the other keys "
                         f"({', '.join(self.dropped['keys'])})")
        if self.draws is not None:
            counts = {name: nontrivial({name: seq}) for name, seq in self.draws.items()}
            each = ", ".join(f"{name} {n}" for name, n in counts.items() if n)
            lines.append(f"random draws: {nontrivial(self.draws)} non-trivial"
                         + (f" ({each}), the rest 0" if each else ", all 0"))
        return lines


def _compact(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


#: The options a replay records (rule 2), with their JSON types.
OPTIONS: dict[str, type | tuple[type, ...]] = {
    "mode": str, "workload": str, "nodes": int, "concurrency": int,
    "op_timeout": (int, float), "recovery": (int, float), "bugs": list, "nemesis": str,
    "lying_disks": bool}
#: The options a replay records when they were set (rule 2); absent or null otherwise.
OPTIONAL: dict[str, type | tuple[type, ...]] = {"request_timeout_ms": int}


def from_history(history: History, options: dict[str, Any], seed: int,
                 expect: Signature | None = None) -> Replay:
    """The replay of a recorded run: its faults from the nemesis's start and stop events (a
    start's ``f`` names its kind: :data:`splitbrain.nemesis.faults.STARTS`), its client
    invocations before the final reads as ops, and its distinct final reads."""
    from splitbrain.nemesis.faults import KINDS, STARTS

    faults: list[Fault] = []
    open_: dict[str, tuple[int, dict[str, Any]]] = {}  # stop f -> (index in faults, op)
    ops: list[Op] = []
    finals: dict[tuple[str, str, str | None], FinalRead] = {}
    for e in history.events:
        if e.type != "invoke":
            continue
        t = e.time / 1e9
        if e.process == NEMESIS:
            if e.f in STARTS:
                nemesis = KINDS[STARTS[e.f]]()
                nemesis.active = {"f": e.f, "value": e.value}
                stop = nemesis.stopping()
                assert stop is not None
                open_[stop["f"]] = (len(faults), e.value)
                faults.append(Fault(STARTS[e.f], e.f, e.value, t, 0.0))
            elif e.f in open_:
                i, _ = open_.pop(e.f)
                faults[i] = replace(faults[i], duration=round(t - faults[i].start, 9))
        elif (e.meta or {}).get("final"):
            r = FinalRead(e.f, e.key, e.consistency)
            finals.setdefault((r.f, _compact(r.key), r.consistency), r)
        else:
            assert isinstance(e.process, int)
            ops.append(Op(e.process, e.f, e.key, e.value, e.consistency, e.node, t))
    recorded = {**{k: options[k] for k in OPTIONS},
                **{k: options[k] for k in OPTIONAL if options.get(k) is not None}}
    return Replay(recorded, seed, tuple(faults), tuple(ops),
                  tuple(finals.values()), expect)


def load(path: str | Path) -> Replay:
    """Read and check a replay file; BadInput (one sentence naming the file and what is
    wrong) otherwise."""
    return parse(read_json(path, "pass the replay.json of a shrunk sim run"), str(path))


def parse(d: Any, where: str) -> Replay:
    """A replay from its JSON object ``d`` (read from ``where``); BadInput otherwise."""
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise BadInput(f"{where} is not a splitbrain replay file (no \"format\": \"{FORMAT}\"); "
                       f"pass the replay.json of a shrunk sim run")
    if d.get("version") not in READS:
        raise BadInput(f"{where} is replay format version {d.get('version')!r}; this "
                       f"splitbrain reads versions {', '.join(map(str, READS))}, so upgrade "
                       f"splitbrain or shrink the seed again")
    options = _field(d, "options", dict, where)
    for name, kind in OPTIONS.items():
        _field(options, name, kind, where, "options.")
    for name, kind in OPTIONAL.items():
        if options.get(name) is not None:
            _field(options, name, kind, where, "options.")
    try:
        faults = tuple(_record(Fault, x, where, "faults") for x in _field(d, "faults", list, where))
        ops = tuple(_record(Op, x, where, "ops") for x in _field(d, "ops", list, where))
        finals = tuple(_record(FinalRead, x, where, "final_reads")
                       for x in _field(d, "final_reads", list, where))
    except TypeError:
        raise BadInput(f"{where}: a fault, op or final read has missing or extra fields; "
                       f"write them as replay.json's format (version {VERSION}) says") from None
    _check_schedule(faults, ops, where)
    expect = d.get("expect")
    sig = (str(expect["checker"]), str(expect["type"]), str(expect["key"])) \
        if isinstance(expect, dict) else None
    dropped = d.get("dropped") or {"keys": [], "ops": 0}
    return Replay(options, _field(d, "seed", int, where), faults, ops, finals, sig, dropped,
                  _draws(d.get("draws"), where))


def _draws(d: Any, where: str) -> Draws | None:
    """The ``draws`` of a replay file (rule 9); BadInput when they are not draws."""
    if d is None:
        return None
    if isinstance(d, dict) and all(
            isinstance(seq, list) and all(isinstance(u, (int, float)) and not isinstance(u, bool)
                                          and 0 <= u < 1 for u in seq) for seq in d.values()):
        return {str(name): tuple(float(u) for u in seq) for name, seq in d.items()}
    raise BadInput(f"{where}: draws must be null or an object from a source's name to a list "
                   f"of numbers in [0, 1); shrink the seed again to write them")


def _field(d: dict, name: str, kind: type | tuple[type, ...], where: str, prefix: str = ""
           ) -> Any:
    value = d.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BadInput(f"{where}: {prefix}{name} is {value!r}, which is not what a replay "
                       f"file holds there; write it as a version {VERSION} file does")
    return value


def _record(cls: type, x: Any, where: str, what: str) -> Any:
    if not isinstance(x, dict):
        raise BadInput(f"{where}: an entry of {what} is {x!r}, not an object")
    names = {f.name for f in fields(cls)}
    if set(x) != names:
        raise TypeError
    return cls(**x)


def _check_schedule(faults: Iterable[Fault], ops: Iterable[Op], where: str) -> None:
    from splitbrain.nemesis.faults import STARTS

    ends: dict[str, float] = {}
    for f in faults:
        if STARTS.get(f.f) != f.kind:
            raise BadInput(f"{where}: a {f.kind!r} fault starts with {f.f!r}, which is no start "
                           f"op of that kind; use one of "
                           f"{', '.join(s for s, k in STARTS.items() if k == f.kind) or 'none'}")
        if not (isinstance(f.start, (int, float)) and isinstance(f.duration, (int, float))
                and f.start >= 0 and f.duration >= 0):
            raise BadInput(f"{where}: the {f.f} fault's start and duration must be seconds "
                           f"(non-negative numbers), not {f.start!r} and {f.duration!r}")
        if f.start < ends.get(f.kind, 0.0):
            raise BadInput(f"{where}: the {f.f} fault at {f.start:g} s starts before the "
                           f"previous {f.kind} fault stops; faults of one kind cannot overlap")
        ends[f.kind] = f.start + f.duration
    for o in ops:
        if not (isinstance(o.process, int) and o.process >= 0
                and isinstance(o.time, (int, float)) and o.time >= 0):
            raise BadInput(f"{where}: the op {o.f} {o.key!r} needs a process (a non-negative "
                           f"integer) and a time (non-negative seconds), not {o.process!r} and "
                           f"{o.time!r}")
