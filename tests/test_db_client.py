"""NodeClient classifies every outcome as ok / fail / info (docs/node-api.md)."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp import web

from splitbrain.db.client import NodeClient
from splitbrain.db.config import free_ports


def fake_node() -> web.Application:
    """A node whose answers are chosen by the key, to exercise each classification."""

    async def get(request: web.Request) -> web.Response:
        key = request.match_info["key"]
        if key == "slow":
            await asyncio.sleep(2.0)  # well past the client's 1 s timeout
        if key == "indefinite":
            return web.json_response({"error": "timeout", "definite": False, "message": "m."},
                                     status=504)
        if key == "garbage":
            return web.Response(text="<html>proxy error</html>", status=502)
        return web.json_response({"key": key, "values": [1, 2], "context": "c1", "version": None,
                                  "ts": None, "r": request.query.get("r")})

    async def put(request: web.Request) -> web.Response:
        key = request.match_info["key"]
        body = await request.json()
        if key == "slow":
            await asyncio.sleep(2.0)  # well past the client's 1 s timeout
        if key == "refuse":
            return web.json_response({"error": "unavailable", "definite": True,
                                      "message": "only 1 of 2 answered."}, status=503)
        if key == "indefinite":
            return web.json_response({"error": "timeout", "definite": False, "message": "m."},
                                     status=504)
        if key == "garbage":
            return web.Response(text="oops", status=500)
        return web.json_response({"ok": True, "version": None, "ts": 17.5, "context": None,
                                  "echo": body})

    async def add(request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "values": [5], "version": 3})

    app = web.Application()
    app.router.add_get("/kv/{key}", get)
    app.router.add_put("/kv/{key}", put)
    app.router.add_post("/kv/{key}/add", add)
    return app


def run(coro):
    return asyncio.run(coro)


def scenario(calls):
    """Run ``calls(client)`` against a fresh fake node and return its result."""

    async def go():
        runner = web.AppRunner(fake_node())
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()  # the system picks a free port
        port = runner.addresses[0][1]
        try:
            async with NodeClient(f"http://127.0.0.1:{port}", timeout=1.0) as c:
                return await calls(c)
        finally:
            await runner.cleanup()

    return run(go())


@pytest.mark.parametrize("key", ["k", "a/b c%"])
def test_read_ok_carries_values_and_context(key):
    reply = scenario(lambda c: c.get(key, r=3))
    assert reply.type == "ok"
    assert reply.value == [1, 2]
    assert reply.meta == {"context": "c1", "siblings": True}


def test_write_ok_echoes_value_and_ts():
    reply = scenario(lambda c: c.put("k", {"x": 1}))
    assert (reply.type, reply.value, reply.meta) == ("ok", {"x": 1}, {"ts": 17.5})


def test_add_reports_new_values():
    reply = scenario(lambda c: c.add("k", 2))
    assert (reply.type, reply.value, reply.meta) == ("ok", 2, {"version": 3, "values": [5]})


@pytest.mark.parametrize("method,key,expected", [
    ("put", "refuse", ("fail", "unavailable")),
    ("put", "indefinite", ("info", "timeout")),
    ("get", "indefinite", ("fail", "timeout")),
    ("put", "slow", ("info", "client-timeout")),
    ("get", "slow", ("fail", "client-timeout")),
    ("put", "garbage", ("info", "bad-response")),
    ("get", "garbage", ("fail", "bad-response")),
])
def test_errors_are_classified(method, key, expected):
    async def call(c):
        if method == "put":
            return await c.put(key, 1)
        return await c.get(key)

    reply = scenario(call)
    assert (reply.type, reply.error) == expected


def test_refused_connection_is_fail_even_for_writes():
    async def go():
        async with NodeClient(f"http://127.0.0.1:{free_ports(1)[0]}", timeout=0.5) as c:
            return await c.put("k", 1)

    reply = run(go())
    assert (reply.type, reply.error) == ("fail", "connection-refused")


def test_a_put_cut_off_mid_request_is_info_and_never_resent():
    """A kept-alive connection that dies after the node read a PUT: the write may have been
    applied, so the reply is info, and the client must not quietly send it again (aiohttp
    resends idempotent methods by default; a refused resend would then be recorded fail)."""
    received = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length")))
            received.append(await reader.readexactly(length))
            if len(received) > 1:  # the second PUT is "applied", then the node dies
                writer.close()
                return
            body = b'{"ok": true, "version": null, "ts": null, "context": null}'
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Connection: keep-alive\r\nContent-Length: %d\r\n\r\n%s"
                         % (len(body), body))
            await writer.drain()

    async def main():
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            async with NodeClient(f"http://127.0.0.1:{port}", timeout=2.0) as c:
                first = await c.put("k", 1)
                second = await c.put("k", 2)
                await asyncio.sleep(0.2)
        finally:
            server.close()
        return first, second

    first, second = run(main())
    assert first.type == "ok"
    assert second.type == "info"
    assert len(received) == 2, "the client resent a PUT the node may already have applied"


def test_the_switch_that_stops_resends_is_one_aiohttp_has():
    """NodeClient turns resends off through aiohttp's private ``ClientSession._retry_connection``
    (added in aiohttp 3.11, pyproject's floor). If aiohttp renames it, setting it silently does
    nothing and a PUT may be sent twice again: this test then names what to fix."""
    async def main():
        plain = aiohttp.ClientSession()
        try:
            assert "_retry_connection" in aiohttp.ClientSession.ATTRS and \
                plain._retry_connection is True, (
                    f"aiohttp {aiohttp.__version__} has no ClientSession._retry_connection "
                    f"switch: find how it now disables resending idempotent requests and use "
                    f"that in NodeClient._http")
        finally:
            await plain.close()
        async with NodeClient(f"http://127.0.0.1:{free_ports(1)[0]}") as c:
            assert c._http()._retry_connection is False

    run(main())
