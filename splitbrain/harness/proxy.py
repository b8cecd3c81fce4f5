"""The ``proxy`` network: one TCP proxy per directed peer link, in a helper process.

The helper (``python -m splitbrain.harness.proxy LINKS_FILE``) runs its own event loop, so
forwarding peer traffic does not compete with the tester's clients in the tester's loop. It
listens on an ephemeral port of its listen address (127.0.0.1, or the hub address of a netns
network) per link ``a->b`` and forwards to ``b``'s peer address;
node ``a``'s ``peer_routes[a][b]`` points at that port. On start it prints one JSON line,
``{"control": PORT, "links": {"a->b": PORT, ...}}``, then takes commands on the control port,
one JSON object per line, answering ``{"ok": true, ...}`` or ``{"error": "..."}``:

* ``{"cut": [["a", "b"], ...]}``: exactly these links are cut (the others flow);
* ``{"delay": [["a", "b"], ...], "seconds": S}``: delay these links' bytes by S seconds;
* ``{"heal": true}``: nothing cut, no delay;
* ``{"stats": true}``: ``{"ok": true, "links": {"a->b": {"bytes": N, "conns": N}}}``.

A cut link holds its bytes: the proxy stops reading and writing its connections, and a new
connection is accepted but not forwarded until the link heals. To the nodes this looks like a
dropped-packet partition does to TCP (silence, then a burst of retransmitted data on healing),
not like a reset.
"""

from __future__ import annotations

import asyncio
import json
import select
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterable

from splitbrain.db.config import ClusterConfig
from splitbrain.errors import TesterFailure
from splitbrain.harness.net import Link, LocalNet
from splitbrain.harness.process import Proc, spawn

CHUNK = 65536
HOLD_CHUNKS = 16


def link_name(a: str, b: str) -> str:
    return f"{a}->{b}"


class ProxyLink:
    """One directed link's state inside the helper process."""

    def __init__(self, upstream: tuple[str, int]):
        self.upstream = upstream
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.delay = 0.0
        self.bytes = 0
        self.conns = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.conns += 1
        try:
            await self.flowing.wait()  # a connect during a cut hangs, as an unanswered SYN would
            try:
                up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            except OSError:
                return
            try:
                await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))
            finally:
                up_writer.close()
        finally:
            self.conns -= 1
            writer.close()

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(HOLD_CHUNKS)

        async def read() -> None:
            while True:
                await self.flowing.wait()
                try:
                    data = await src.read(CHUNK)
                except OSError:
                    data = b""
                await queue.put((loop.time(), data))
                if not data:
                    return

        async def write() -> None:
            while True:
                t, data = await queue.get()
                if self.delay:
                    await asyncio.sleep(t + self.delay - loop.time())
                await self.flowing.wait()
                if not data:
                    if dst.can_write_eof():
                        dst.write_eof()
                    return
                dst.write(data)
                await dst.drain()
                self.bytes += len(data)

        reader = asyncio.create_task(read())
        try:
            await write()
        except OSError:
            pass
        finally:
            reader.cancel()


def _parse_links(spec: Any) -> list[Link]:
    return [(str(a), str(b)) for a, b in spec]


async def _serve(links_file: str) -> None:
    spec = json.loads(Path(links_file).read_text())
    links: dict[str, ProxyLink] = {}
    ports: dict[str, int] = {}
    for name, upstream in spec["links"].items():
        host, port = upstream.rsplit(":", 1)
        link = links[name] = ProxyLink((host, int(port)))
        server = await asyncio.start_server(link.serve, spec.get("listen", "127.0.0.1"), 0)
        ports[name] = server.sockets[0].getsockname()[1]

    def command(cmd: dict[str, Any]) -> dict[str, Any]:
        if "cut" in cmd:
            cut = {link_name(a, b) for a, b in _parse_links(cmd["cut"])}
            for name, link in links.items():
                (link.flowing.clear if name in cut else link.flowing.set)()
        elif "delay" in cmd:
            for a, b in _parse_links(cmd["delay"]):
                links[link_name(a, b)].delay = float(cmd["seconds"])
        elif "heal" in cmd:
            for link in links.values():
                link.flowing.set()
                link.delay = 0.0
        elif "stats" in cmd:
            return {"ok": True, "links": {n: {"bytes": l.bytes, "conns": l.conns}
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
    """The proxy network (see the module docstring). The helper dies with the tester unless
    the cluster is detached."""

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
        asyncio.run(_serve(sys.argv[1]))
    except KeyboardInterrupt:
        pass
