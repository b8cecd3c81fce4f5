"""The proxy network observed at the TCP level: a cut link holds bytes (no reset) while other
links flow, a connection opened during a cut hangs until the heal, heal delivers what was held,
delay slows a link down; and the errors a user can meet."""

from __future__ import annotations

import asyncio
import time

import pytest

from splitbrain.db.config import ClusterConfig, NodeSpec
from splitbrain.errors import BadInput
from splitbrain.harness.networks import make_net
from splitbrain.harness.process import start_time
from splitbrain.harness.proxy import ProxyNet


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(1024):
        writer.write(data)
        await writer.drain()
    writer.close()


async def read_or_none(reader: asyncio.StreamReader, n: int, timeout: float) -> bytes | None:
    try:
        return await asyncio.wait_for(reader.readexactly(n), timeout)
    except asyncio.TimeoutError:
        return None


@pytest.mark.integration
def test_cut_holds_bytes_heal_delivers_them_delay_slows_down(tmp_path):
    async def scenario():
        servers = [await asyncio.start_server(echo, "127.0.0.1", 0) for _ in range(2)]
        ports = [s.sockets[0].getsockname()[1] for s in servers]
        config = ClusterConfig("dynamo", [NodeSpec("n1", peer_port=ports[0]),
                                          NodeSpec("n2", peer_port=ports[1])], n=2, r=1, w=1)
        net = ProxyNet()
        config = await net.open(config, tmp_path, detached=False)
        try:
            routes = {(a, b): config.peer_route(a, b) for a, b in (("n1", "n2"), ("n2", "n1"))}
            assert all(r.startswith("127.0.0.1:") for r in routes.values())
            assert routes[("n1", "n2")] != f"127.0.0.1:{ports[1]}"  # a goes through the proxy

            def connect(link):
                host, port = routes[link].rsplit(":", 1)
                return asyncio.open_connection(host, int(port))

            r12, w12 = await connect(("n1", "n2"))
            r21, w21 = await connect(("n2", "n1"))
            w12.write(b"ping")
            assert await read_or_none(r12, 4, 2) == b"ping"

            await net.cut([("n1", "n2")])
            assert net.cuts == {("n1", "n2")}
            w12.write(b"held")
            w21.write(b"flows")
            assert await read_or_none(r21, 5, 2) == b"flows"  # the other direction still flows
            assert await read_or_none(r12, 4, 0.3) is None  # held, not reset
            assert not r12.at_eof()
            late_r, late_w = await connect(("n1", "n2"))  # accepted, but not forwarded
            late_w.write(b"late")
            assert await read_or_none(late_r, 4, 0.3) is None
            stats = await net.stats()
            assert stats["n1->n2"]["conns"] == 2

            await net.heal()
            assert net.cuts == frozenset()
            assert await read_or_none(r12, 4, 2) == b"held"
            assert await read_or_none(late_r, 4, 2) == b"late"

            await net.delay([("n1", "n2")], 0.2)
            t = time.monotonic()
            w12.write(b"slow")
            assert await read_or_none(r12, 4, 3) == b"slow"
            assert time.monotonic() - t >= 0.35  # 0.2 s each way through the link
            await net.heal()
            took = []
            for _ in range(3):  # the fastest of three: a loaded machine stalls some
                t = time.monotonic()
                w12.write(b"fast")
                assert await read_or_none(r12, 4, 2) == b"fast"
                took.append(time.monotonic() - t)
            assert min(took) < 0.2, f"healed link still slow: {took}"  # the delay was 0.2 s

            with pytest.raises(ValueError, match="no link n1->n1"):
                await net.cut([("n1", "n1")])
            with pytest.raises(BadInput, match="cannot drop individual packets"):
                await net.loss([("n1", "n2")], 10)
            for w in (w12, w21, late_w):
                w.close()
        finally:
            pid = net.proc.pid
            await net.close()
            await net.close()  # idempotent
        assert start_time(pid) is None
        for s in servers:
            s.close()

    asyncio.run(scenario())


def test_unknown_network_is_bad_input():
    with pytest.raises(BadInput, match="unknown network 'wifi'"):
        make_net("wifi")


@pytest.mark.integration
def test_connections_closed_by_both_ends_are_released(tmp_path):
    async def scenario():
        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        config = ClusterConfig("dynamo", [NodeSpec("n1", peer_port=port),
                                          NodeSpec("n2", peer_port=port)], n=2, r=1, w=1)
        net = ProxyNet()
        host, p = (await net.open(config, tmp_path, detached=False)).peer_route(
            "n1", "n2").rsplit(":", 1)
        try:
            for _ in range(20):
                reader, writer = await asyncio.open_connection(host, int(p))
                writer.write(b"bye")
                assert await read_or_none(reader, 3, 2) == b"bye"
                writer.write_eof()  # the echo server closes in turn
                assert await asyncio.wait_for(reader.read(), 2) == b""
                writer.close()
            for _ in range(50):
                if (await net.stats())["n1->n2"]["conns"] == 0:
                    break
                await asyncio.sleep(0.02)
            assert (await net.stats())["n1->n2"] == {"bytes": 120, "conns": 0}
        finally:
            await net.close()
            server.close()

    asyncio.run(scenario())
