"""The ``proxy`` network: one TCP proxy per directed peer link, in a helper process.

The helper (``python -m splitbrain.harness.proxy LINKS_FILE``) runs its own uvloop event loop,
so forwarding peer traffic does not compete with the tester's clients in the tester's loop. It
listens on an ephemeral port of its listen address (127.0.0.1, or the hub address of a netns
network) per link ``a->b`` and forwards to ``b``'s peer address;
node ``a``'s ``peer_routes[a][b]`` points at that port. On start it prints one JSON line,
``{"control": PORT, "links": {"a->b": PORT, ...}}``, then takes commands on the control port,
one JSON object per line, answering ``{"ok": true, ...}`` or ``{"error": "..."}``:

* ``{"cut": [["a", "b"], ...]}``: exactly these links are cut (the others flow); with
  ``"reject": true`` they are cut in reject style (below);
* ``{"reset": [["a", "b"], ...]}``: every connection on these links is aborted, its held bytes
  dropped;
* ``{"delay": [["a", "b"], ...], "seconds": S}``: delay these links' bytes by S seconds;
* ``{"heal": true}``: nothing cut, no delay;
* ``{"stats": true}``: ``{"ok": true, "links": {"a->b": {"bytes": N, "conns": N}}}``.

A cut link holds its bytes: the proxy stops reading and writing its connections, and a new
connection is accepted but not forwarded until the link heals. To the nodes this looks like a
dropped-packet partition does to TCP (silence, then a burst of retransmitted data on healing),
not like a reset.

A reset aborts both TCP connections of every proxied pair on the link (the node's and the
helper's to the upstream node) and drops the bytes the helper holds for them: the sending node
sees its connection die and reconnects for its next message, and what was in flight is lost,
as after a firewall's REJECT, a middlebox restart or a keepalive timeout. A cut in reject style
resets the link at once and, until the next cut or heal, closes every new connection as soon as
it is accepted, so what a node sends meanwhile is lost instead of held.
"""

from __future__ import annotations

import asyncio
import json
import select
import subprocess
import sys
from collections import deque
from pathlib import Path
from typing import Any, Iterable, cast

import uvloop

from splitbrain.db.config import ClusterConfig
from splitbrain.errors import TesterFailure
from splitbrain.harness.net import Link, LocalNet
from splitbrain.harness.process import Proc, spawn

HOLD_CHUNKS = 64  # chunks a pipe holds (cut or delayed) before it stops reading its source


def link_name(a: str, b: str) -> str:
    return f"{a}->{b}"


class ProxyLink:
    """One directed link inside the helper process: whether it flows, its delay, and its
    proxied connections. Forwarding is callback-driven (asyncio protocols): with the link
    flowing and undelayed, bytes received on one side are written to the other at once."""

    def __init__(self, upstream: tuple[str, int]):
        self.upstream = upstream
        self.flows = asyncio.Event()
        self.flows.set()
        self.rejecting = False  # cut in reject style: new connections are closed at once
        self.delay = 0.0
        self.bytes = 0
        self.conns: set[Connection] = set()

    @property
    def flowing(self) -> bool:
        return self.flows.is_set()

    def set_flowing(self, flowing: bool, *, reject: bool = False) -> None:
        """Let the link flow, or cut it (holding its bytes; with ``reject``, resetting it and
        refusing new connections)."""
        (self.flows.set if flowing else self.flows.clear)()
        self.rejecting = reject and not flowing
        if self.rejecting:
            self.reset()
        for conn in list(self.conns):
            conn.update()

    def reset(self) -> None:
        """Abort every connection of the link, dropping what it holds."""
        for conn in list(self.conns):
            conn.lost(abort=True)

    def accept(self) -> "Side":
        """Protocol factory for the link's listening socket."""
        return Connection(self).client


class Side(asyncio.Protocol):
    """One TCP connection of a proxied pair (the node's, or the one to the upstream node)."""

    def __init__(self, conn: "Connection"):
        self.conn = conn
        self.transport: asyncio.Transport | None = None
        self.pipe = Pipe(conn.link)  # what this side receives, on its way to the other side
        self.reading = True
        self.throttled = False  # its transport's write buffer is full
        self.eof = False  # it has sent its EOF

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCPTransport is not an asyncio.Transport subclass: no isinstance check.
        self.transport = cast(asyncio.Transport, transport)
        self.conn.made(self)

    def data_received(self, data: bytes) -> None:
        if self.pipe.feed(data):
            self.conn.update()

    def eof_received(self) -> bool:
        self.eof = True
        self.pipe.feed(b"")
        self.conn.update()
        return True  # keep the other direction open until its own EOF

    def connection_lost(self, exc: Exception | None) -> None:
        self.conn.lost()

    def pause_writing(self) -> None:
        self.throttled = True
        self.conn.update()

    def resume_writing(self) -> None:
        self.throttled = False
        self.conn.update()

    def set_reading(self, reading: bool) -> None:
        if self.transport is not None and reading != self.reading and not self.transport.is_closing():
            (self.transport.resume_reading if reading else self.transport.pause_reading)()
            self.reading = reading


class Pipe:
    """Bytes read on one side, written to the other in order, each after the link's delay and
    only while the link flows; b"" stands for EOF."""

    def __init__(self, link: ProxyLink):
        self.link = link
        self.dst: Side | None = None
        self.pending: deque[tuple[float, bytes]] = deque()
        self.timer: asyncio.TimerHandle | None = None

    def feed(self, data: bytes) -> bool:
        """Write ``data`` at once if it may pass now, else queue it. Returns whether it was
        queued: only then can the connection's reading or closing state have changed (a full
        write buffer reports itself through ``pause_writing``)."""
        if not self.pending and self.link.flowing and not self.link.delay and self.dst:
            self._write(data)
            return False
        self.pending.append((asyncio.get_running_loop().time() + self.link.delay, data))
        self.flush()
        return True

    def flush(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        loop = asyncio.get_running_loop()
        while self.pending and self.link.flowing and self.dst is not None:
            due, data = self.pending[0]
            if due > loop.time():
                self.timer = loop.call_at(due, self.flush)
                return
            self.pending.popleft()
            self._write(data)

    def _write(self, data: bytes) -> None:
        assert self.dst is not None and self.dst.transport is not None
        transport = self.dst.transport
        if transport.is_closing():
            return
        if data:
            transport.write(data)
            self.link.bytes += len(data)
        elif transport.can_write_eof():
            transport.write_eof()

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.pending.clear()


class Connection:
    """A node's connection to the link's port and the helper's connection to the upstream
    node. A connection accepted during a cut is not forwarded until the link heals (as an
    unanswered SYN would hang), or, in reject style, closed at once (as a refused one)."""

    def __init__(self, link: ProxyLink):
        self.link = link
        self.client = Side(self)
        self.upstream: Side | None = None
        self.closed = False

    def made(self, side: Side) -> None:
        if side is self.client:
            if self.link.rejecting:
                self.lost(abort=True)
                return
            self.link.conns.add(self)
            side.set_reading(False)
            asyncio.get_running_loop().create_task(self._connect())
        else:
            self.client.pipe.dst, side.pipe.dst = side, self.client
            self.update()

    async def _connect(self) -> None:
        await self.link.flows.wait()
        if self.closed:
            return
        loop = asyncio.get_running_loop()
        self.upstream = Side(self)
        try:
            await loop.create_connection(lambda: self.upstream, *self.link.upstream)
        except OSError:
            self.lost()

    def update(self) -> None:
        """Deliver what may be delivered; read each side only while its bytes can move on."""
        sides = [s for s in (self.client, self.upstream) if s is not None and s.transport]
        if self.closed or len(sides) < 2:
            return
        for side, other in ((sides[0], sides[1]), (sides[1], sides[0])):
            side.pipe.flush()
            side.set_reading(self.link.flowing and not other.throttled
                             and len(side.pipe.pending) < HOLD_CHUNKS)
        if all(s.eof and not s.pipe.pending for s in sides):
            self.lost()  # both directions finished: nothing more can pass

    def lost(self, *, abort: bool = False) -> None:
        """Close both sides (``abort``: at once, dropping unwritten bytes, as a reset)."""
        if self.closed:
            return
        self.closed = True
        self.link.conns.discard(self)
        for side in (self.client, self.upstream):
            if side is not None:
                side.pipe.close()
                if side.transport is not None:
                    (side.transport.abort if abort else side.transport.close)()


def _parse_links(spec: Any) -> list[Link]:
    return [(str(a), str(b)) for a, b in spec]


async def _serve(links_file: str) -> None:
    spec = json.loads(Path(links_file).read_text())
    links: dict[str, ProxyLink] = {}
    ports: dict[str, int] = {}
    for name, upstream in spec["links"].items():
        host, port = upstream.rsplit(":", 1)
        link = links[name] = ProxyLink((host, int(port)))
        server = await asyncio.get_running_loop().create_server(
            link.accept, spec.get("listen", "127.0.0.1"), 0)
        ports[name] = server.sockets[0].getsockname()[1]

    def command(cmd: dict[str, Any]) -> dict[str, Any]:
        if "cut" in cmd:
            cut = {link_name(a, b) for a, b in _parse_links(cmd["cut"])}
            for name, link in links.items():
                link.set_flowing(name not in cut, reject=bool(cmd.get("reject")))
        elif "reset" in cmd:
            for a, b in _parse_links(cmd["reset"]):
                links[link_name(a, b)].reset()
        elif "delay" in cmd:
            for a, b in _parse_links(cmd["delay"]):
                links[link_name(a, b)].delay = float(cmd["seconds"])
        elif "heal" in cmd:
            for link in links.values():
                link.delay = 0.0
                link.set_flowing(True)
        elif "stats" in cmd:
            return {"ok": True, "links": {n: {"bytes": l.bytes, "conns": len(l.conns)}
                                          for n, l in links.items()}}
        else:
            return {"error": f"unknown command {sorted(cmd)}"}
        return {"ok": True}

    async def control(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                try:
                    reply = command(json.loads(line))
                except (ValueError, KeyError, TypeError) as e:
                    reply = {"error": f"bad command: {e}"}
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        finally:
            writer.close()

    ctl = await asyncio.start_server(control, spec.get("listen", "127.0.0.1"), 0)
    print(json.dumps({"control": ctl.sockets[0].getsockname()[1], "links": ports}), flush=True)
    await asyncio.Event().wait()


class ProxyNet(LocalNet):
    """The proxy network (see the module docstring); it :class:`LinkResets`. The helper dies
    with the tester unless the cluster is detached."""

    kind = "proxy"
    START_TIMEOUT = 10.0

    def __init__(self) -> None:
        self.proc: Proc | None = None
        self.control_port = 0
        self.listen = "127.0.0.1"
        self.log: Path | None = None
        self.config: ClusterConfig | None = None
        self.cuts = frozenset()
        self.delays: dict[Link, float] = {}

    async def open(self, config: ClusterConfig, root: Path, *, detached: bool,
                   listen: str = "127.0.0.1", prefix: tuple[str, ...] = ()) -> ClusterConfig:
        """Start the helper (run under ``prefix``, e.g. ``ip netns exec NS``, listening and
        taking commands on ``listen``) and return ``config`` with its ``peer_routes``."""
        self.listen = listen
        links_file = root / "proxy-links.json"
        links_file.write_text(json.dumps({
            "listen": listen,
            "links": {link_name(a, b): config.node(b).peer_address
                      for a in config.names for b in config.names if a != b}}))
        self.log = root / "logs" / "proxy.log"
        self.proc = spawn([*prefix, sys.executable, "-m", "splitbrain.harness.proxy",
                           str(links_file)],
                          self.log, die_with_tester=not detached, stdout=subprocess.PIPE)
        ports = await asyncio.get_running_loop().run_in_executor(None, self._read_ports)
        self.control_port = ports["control"]
        routes: dict[str, dict[str, str]] = {}
        for name, port in ports["links"].items():
            a, b = name.split("->")
            routes.setdefault(a, {})[b] = f"{listen}:{port}"
        self.config = ClusterConfig.from_dict({**config.to_dict(), "peer_routes": routes})
        return self.config

    def _read_ports(self) -> dict[str, Any]:
        assert self.proc is not None and self.proc.popen is not None
        out = self.proc.popen.stdout
        assert out is not None
        ready, _, _ = select.select([out], [], [], self.START_TIMEOUT)
        line = out.readline() if ready else b""
        out.close()
        try:
            return json.loads(line)
        except ValueError:
            raise TesterFailure(f"the network proxy did not start within {self.START_TIMEOUT:g} "
                                f"s; see its log at {self.log}") from None

    def state(self) -> dict[str, Any]:
        if self.proc is None:
            return {}
        return {"procs": {"proxy": self.proc.to_dict()}, "control_port": self.control_port,
                "listen": self.listen}

    async def _command(self, cmd: dict[str, Any]) -> dict[str, Any]:
        if self.proc is None or not self.proc.alive():
            raise TesterFailure(f"the network proxy is not running; see its log at {self.log}")
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.listen, self.control_port), 5)
            writer.write(json.dumps(cmd).encode() + b"\n")
            reply = json.loads(await asyncio.wait_for(reader.readline(), 5))
            writer.close()
        except (OSError, ValueError, asyncio.TimeoutError):
            raise TesterFailure(f"the network proxy (pid {self.proc.pid}) did not answer a "
                                f"command; see its log at {self.log}") from None
        if "error" in reply:
            raise TesterFailure(f"the network proxy refused {cmd}: {reply['error']}")
        return reply

    async def cut(self, links: Iterable[Link]) -> None:
        assert self.config is not None
        cut = self.check_links(self.config, links)
        await self._command({"cut": sorted(cut)})
        self.cuts = cut

    async def reject(self, links: Iterable[Link]) -> None:
        assert self.config is not None
        cut = self.check_links(self.config, links)
        await self._command({"cut": sorted(cut), "reject": True})
        self.cuts = cut

    async def reset(self, links: Iterable[Link]) -> None:
        assert self.config is not None
        await self._command({"reset": sorted(self.check_links(self.config, links))})

    async def delay(self, links: Iterable[Link], seconds: float) -> None:
        assert self.config is not None
        chosen = self.check_links(self.config, links)
        await self._command({"delay": sorted(chosen), "seconds": seconds})
        for link in chosen:
            if seconds:
                self.delays[link] = seconds
            else:
                self.delays.pop(link, None)

    async def heal(self) -> None:
        await self._command({"heal": True})
        self.cuts = frozenset()
        self.delays.clear()

    async def stats(self) -> dict[str, dict[str, int]]:
        """Bytes forwarded and open connections per link (``"a->b"``)."""
        return (await self._command({"stats": True}))["links"]

    def close_sync(self) -> None:
        if self.proc is not None:
            self.proc.terminate_sync(grace=0.2)
            self.proc = None
        self.cuts = frozenset()
        self.delays.clear()


if __name__ == "__main__":
    try:
        uvloop.run(_serve(sys.argv[1]))
    except KeyboardInterrupt:
        pass
