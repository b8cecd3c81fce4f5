"""The proxy's connection reset, in-process (the helper's link objects on this test's event
loop, over loopback sockets): a reset drops the bytes a cut link holds and closes both ends;
a cut in reject style closes new connections at once; the heal lets new ones through. And the
same through the helper process's control protocol (ProxyNet.reset and reject)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from splitbrain.db.config import ClusterConfig, NodeSpec
from splitbrain.harness.interfaces import LinkResets
from splitbrain.harness.proxy import ProxyLink, ProxyNet


async def _gone(reader: asyncio.StreamReader, timeout: float = 2.0) -> bool:
    """True when the connection ends (EOF or reset) within ``timeout`` without data."""
    try:
        return await asyncio.wait_for(reader.read(100), timeout) == b""
    except ConnectionResetError:
        return True


def test_reset_drops_held_bytes_and_reject_closes_new_connections():
    async def scenario():
        received: list[bytes] = []
        upstream_closed = asyncio.Event()

        async def sink(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while data := await reader.read(100):
                    received.append(data)
            except ConnectionResetError:
                pass
            upstream_closed.set()
            writer.close()

        upstream = await asyncio.start_server(sink, "127.0.0.1", 0)
        link = ProxyLink(("127.0.0.1", upstream.sockets[0].getsockname()[1]))
        server = await asyncio.get_running_loop().create_server(link.accept, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"sent")
            for _ in range(100):
                if received:
                    break
                await asyncio.sleep(0.01)
            assert received == [b"sent"]

            link.set_flowing(False)  # an ordinary cut: the bytes are held
            writer.write(b"held")
            await asyncio.sleep(0.1)
            assert received == [b"sent"] and len(link.conns) == 1
            link.reset()
            assert await _gone(reader), "the node's side of a reset connection stays open"
            await asyncio.wait_for(upstream_closed.wait(), 2)
            assert received == [b"sent"], "a reset delivered the bytes the cut held"
            assert not link.conns

            link.set_flowing(False, reject=True)
            r2, w2 = await asyncio.open_connection("127.0.0.1", port)
            w2.write(b"refused")
            assert await _gone(r2), "a connection opened during a reject cut was kept open"
            assert received == [b"sent"] and not link.conns

            link.set_flowing(True)
            r3, w3 = await asyncio.open_connection("127.0.0.1", port)
            w3.write(b"healed")
            for _ in range(100):
                if len(received) > 1:
                    break
                await asyncio.sleep(0.01)
            assert received == [b"sent", b"healed"]
            for w in (writer, w2, w3):
                w.close()
        finally:
            for conn in list(link.conns):
                conn.lost(abort=True)
            server.close()
            upstream.close()

    asyncio.run(scenario())


@pytest.mark.integration
def test_proxy_net_resets_and_rejects_through_its_helper(tmp_path):
    async def scenario():
        async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionResetError):
                await reader.read()
            writer.close()

        servers = [await asyncio.start_server(swallow, "127.0.0.1", 0) for _ in range(2)]
        config = ClusterConfig("dynamo", [NodeSpec(f"n{i + 1}", peer_port=s.sockets[0]
                                                   .getsockname()[1])
                                          for i, s in enumerate(servers)], n=2, r=1, w=1)
        net = ProxyNet()
        assert isinstance(net, LinkResets)
        config = await net.open(config, tmp_path, detached=False)
        host, port = config.peer_route("n1", "n2").rsplit(":", 1)
        try:
            reader, writer = await asyncio.open_connection(host, int(port))
            await net.reset([("n1", "n2")])
            assert await _gone(reader), "a reset left the connection open"
            await net.reject([("n1", "n2")])
            assert net.cuts == {("n1", "n2")}
            r2, _ = await asyncio.open_connection(host, int(port))
            assert await _gone(r2), "a connection opened during a reject cut stayed open"
            await net.heal()
            r3, _ = await asyncio.open_connection(host, int(port))
            with pytest.raises(asyncio.TimeoutError):  # healed: the connection stays open
                await asyncio.wait_for(r3.read(1), 0.3)
            with pytest.raises(ValueError):
                await net.reset([("n1", "n3")])
        finally:
            await net.close()
            for s in servers:
                s.close()

    asyncio.run(scenario())
