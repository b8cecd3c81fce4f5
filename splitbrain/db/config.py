"""The cluster config: one JSON file that every node of a cluster reads (DESIGN.md, "The node").

Example::

    {"mode": "dynamo",
     "nodes": [{"name": "n1", "host": "127.0.0.1", "client_port": 7001, "peer_port": 8001,
                "data_dir": "/tmp/c/n1"}, ...],
     "n": 3, "r": 2, "w": 2, "vnodes": 16,
     "peer_routes": {"n1": {"n2": "127.0.0.1:9012"}}}

``peer_routes[a][b]``, when present, is the address node ``a`` dials to reach node ``b`` (the
tester's proxy for the directed link a->b); otherwise ``a`` dials ``b``'s own peer address.
Every other field has a default, listed in :class:`ClusterConfig`.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from splitbrain.db.bugs import check_bugs

MODES = ("dynamo", "lww", "dynamodb")


class ConfigError(ValueError):
    """The config is unusable; the message is one sentence naming the file and the field."""


@dataclass
class NodeSpec:
    name: str
    host: str = "127.0.0.1"
    client_port: int = 0
    peer_port: int = 0
    data_dir: str = ""

    @property
    def client_url(self) -> str:
        return f"http://{self.host}:{self.client_port}"

    @property
    def peer_address(self) -> str:
        return f"{self.host}:{self.peer_port}"


@dataclass
class ClusterConfig:
    """A whole cluster. Times are milliseconds."""

    mode: str
    nodes: list[NodeSpec]
    n: int = 3
    r: int = 2
    w: int = 2
    vnodes: int = 16
    partitions: int = 8
    replication: int = 3
    lease_ms: int = 2000
    heartbeat_ms: int = 200
    request_timeout_ms: int = 1000
    gossip_interval_ms: int = 200
    failure_timeout_ms: int = 1000
    anti_entropy_interval_ms: int = 2000
    hint_interval_ms: int = 500
    max_value_bytes: int = 1 << 20
    peer_routes: dict[str, dict[str, str]] = field(default_factory=dict)
    bugs: list[str] = field(default_factory=list)  # planted bugs (splitbrain.db.bugs)

    def node(self, name: str) -> NodeSpec:
        for spec in self.nodes:
            if spec.name == name:
                return spec
        raise ConfigError(f"no node named {name!r} in the config; it has "
                          f"{', '.join(s.name for s in self.nodes)}")

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.nodes]

    def peer_route(self, src: str, dest: str) -> str:
        """The address ``src`` dials to reach ``dest``."""
        return self.peer_routes.get(src, {}).get(dest) or self.node(dest).peer_address

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def dump(self, path: str | os.PathLike) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def from_dict(cls, d: Any, *, source: str = "the config") -> "ClusterConfig":
        if not isinstance(d, dict):
            raise ConfigError(f"{source} must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"{source} has unknown field(s) {', '.join(unknown)}; "
                              f"known fields are {', '.join(sorted(known))}")
        if d.get("mode") not in MODES:
            raise ConfigError(f"{source} has mode {d.get('mode')!r}; use one of {', '.join(MODES)}")
        raw_nodes = d.get("nodes")
        if not isinstance(raw_nodes, list) or not raw_nodes:
            raise ConfigError(f"{source} needs a non-empty list 'nodes'")
        node_fields = {f.name for f in fields(NodeSpec)}
        nodes = []
        for i, nd in enumerate(raw_nodes):
            if not isinstance(nd, dict) or "name" not in nd or set(nd) - node_fields:
                raise ConfigError(f"{source}: nodes[{i}] must be an object with 'name' and "
                                  f"only {', '.join(sorted(node_fields))}")
            spec = NodeSpec(**nd)
            for field_name in ("name", "host", "data_dir"):
                if not isinstance(getattr(spec, field_name), str):
                    raise ConfigError(f"{source}: nodes[{i}].{field_name} must be a string, not "
                                      f"{getattr(spec, field_name)!r}")
            for field_name in ("client_port", "peer_port"):
                port = getattr(spec, field_name)
                if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port < 65536:
                    raise ConfigError(f"{source}: nodes[{i}].{field_name} must be a port number "
                                      f"from 0 to 65535, not {port!r}")
            nodes.append(spec)
        if len({s.name for s in nodes}) != len(nodes):
            raise ConfigError(f"{source} names a node twice")
        cfg = cls(**{**d, "nodes": nodes})
        for name in ("n", "r", "w", "vnodes", "partitions", "replication", "lease_ms",
                     "heartbeat_ms", "request_timeout_ms", "gossip_interval_ms",
                     "failure_timeout_ms", "anti_entropy_interval_ms", "hint_interval_ms",
                     "max_value_bytes"):
            v = getattr(cfg, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"{source}: {name} must be a positive integer, not {v!r}")
        if cfg.n > len(nodes):
            raise ConfigError(f"{source}: n={cfg.n} exceeds the {len(nodes)} nodes; lower n "
                              f"or add nodes")
        if cfg.r > cfg.n or cfg.w > cfg.n:
            raise ConfigError(f"{source}: r={cfg.r} and w={cfg.w} must not exceed n={cfg.n}")
        if not isinstance(cfg.bugs, list) or not all(isinstance(b, str) for b in cfg.bugs):
            raise ConfigError(f"{source}: bugs must be a list of bug names, not {cfg.bugs!r}")
        try:
            cfg.bugs = check_bugs(cfg.bugs, cfg.mode)
        except ValueError as e:
            raise ConfigError(f"{source}: {e}") from None
        if cfg.mode == "dynamodb" and cfg.replication > len(nodes):
            raise ConfigError(f"{source}: replication={cfg.replication} exceeds the "
                              f"{len(nodes)} nodes")
        return cfg

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ClusterConfig":
        try:
            text = Path(path).read_text()
        except OSError as e:
            raise ConfigError(f"cannot read the cluster config {path} ({e.strerror}); "
                              f"check the path") from None
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"the cluster config {path} is not valid JSON ({e.msg}, line "
                              f"{e.lineno})") from None
        return cls.from_dict(d, source=f"the cluster config {path}")


def local_config(mode: str, nodes: int, data_root: str | os.PathLike, *, host: str = "127.0.0.1",
                 ports: list[int] | None = None, **params: Any) -> ClusterConfig:
    """A config for ``nodes`` nodes named n1..nN on ``host``, each with its data dir under
    ``data_root``. ``ports`` gives 2*nodes free ports (client ports first); when omitted they
    are picked by :func:`free_ports`."""
    if ports is None:
        ports = free_ports(2 * nodes, host=host)
    specs = [NodeSpec(name=f"n{i + 1}", host=host, client_port=ports[i],
                      peer_port=ports[nodes + i], data_dir=str(Path(data_root) / f"n{i + 1}"))
             for i in range(nodes)]
    d = {"mode": mode, "nodes": [asdict(s) for s in specs], **params}
    if nodes < d.get("n", 3):
        d["n"] = nodes
        d["r"] = min(d.get("r", 2), nodes)
        d["w"] = min(d.get("w", 2), nodes)
    if mode == "dynamodb" and nodes < d.get("replication", 3):
        d["replication"] = nodes
    return ClusterConfig.from_dict(d)


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct TCP ports that were free on ``host`` a moment ago.

    They are drawn at random from below the kernel's ephemeral range: a port the kernel handed
    out by binding to port 0 is one it may hand out again a moment later as the local port of
    some outgoing connection, and then the node that was meant to listen there cannot bind."""
    import random
    import socket

    low, _ = _ephemeral_range()
    pool = range(10_000, max(low, 10_000 + 4 * count))
    candidates = random.SystemRandom().sample(pool, k=min(len(pool), 8 * count + 64))
    ports: list[int] = []
    for port in candidates:
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
        ports.append(port)
        if len(ports) == count:
            return ports
    raise OSError(f"could not find {count} free TCP ports on {host}")


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default; other systems use 49152 and up
