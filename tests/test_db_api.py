"""The HTTP layer (splitbrain/db/api.py) over a one-node dynamo store in memory."""

from __future__ import annotations

import asyncio
import json

from aiohttp.test_utils import TestClient, TestServer

from splitbrain.db.api import Api
from splitbrain.db.config import local_config
from splitbrain.db.dynamo import DynamoStore
from splitbrain.db.env import MemoryNetwork, memory_env


def with_node(mode: str, calls):
    async def go():
        cfg = local_config(mode, 1, "/nonexistent", ports=[1, 2], max_value_bytes=100)
        env = memory_env("n1", MemoryNetwork(), config=cfg)
        await env.transport.start()
        store = DynamoStore(env)
        await store.start()
        try:
            async with TestClient(TestServer(Api(store, env).app())) as client:
                return await calls(client, env)
        finally:
            await store.stop()

    return asyncio.run(go())


async def call(client, method: str, path: str, body=None):
    resp = await client.request(method, path, data=None if body is None else json.dumps(body))
    return resp.status, await resp.json()


def test_bad_requests_are_400_with_one_sentence():
    cases = [
        ("PUT", "/admin/clock", {"offset": "soon"}, "number 'offset'"),
        ("PUT", "/admin/clock", {"rate": 0}, "from 0.1 to 10, not 0"),
        ("PUT", "/admin/clock", {"rate": 1.5}, "in-memory clock runs at the event loop's rate"),
        ("PUT", "/admin/disk", {"sync_delay": "slow"}, "number 'sync_delay'"),
        ("PUT", "/admin/disk", {"sync_delay": 11}, "from 0 to 10 seconds, not 11"),
        ("PUT", "/kv/a", {}, "needs a 'value'"),
        ("PUT", "/kv/a", {"value": "x" * 200}, "max_value_bytes of 100"),
        ("PUT", "/kv/a", {"value": 1, "context": "garbage"}, "context does not parse"),
        ("PUT", "/kv/a", {"value": 1, "condition": {"absent": True}}, "only in dynamodb"),
        ("POST", "/kv/a/add", {"delta": True}, "number 'delta'"),
        ("POST", "/kv/a/add", {"delta": 1}, "only in dynamodb"),
        ("GET", "/kv/a?consistency=linear", None, "strong or eventual"),
        ("PUT", "/kv/a", {"value": [1, 2**70]}, "beyond 64 bits"),
        ("POST", "/kv/a/add", {"delta": 2**64}, "64-bit range"),
    ]

    async def calls(client, env):
        out = [await call(client, m, p, b) for m, p, b, _ in cases]
        for raw_body in (b"{not json", b'{"value": NaN}'):
            raw = await client.put("/kv/a", data=raw_body)
            out.append((raw.status, await raw.json()))
        return out

    answers = with_node("dynamo", calls)
    expected_words = [c[3] for c in cases] + ["not valid JSON"] * 2
    assert len(answers) == len(expected_words)
    for (status, body), expected in zip(answers, expected_words):
        assert status == 400 and body["error"] == "bad-request" and body["definite"] is True
        assert expected in body["message"] and body["message"].endswith(".")
        assert "\n" not in body["message"]


def test_status_health_and_clock_offset():
    async def calls(client, env):
        assert await call(client, "GET", "/health") == (200, {"ok": True, "name": "n1",
                                                              "mode": "lww"})
        assert await call(client, "PUT", "/admin/clock", {"offset": 2.5}) == \
            (200, {"offset": 2.5, "rate": 1.0})
        t0 = env.clock.wall()
        status, body = await call(client, "PUT", "/kv/k", {"value": 1})
        assert status == 200 and body["ts"] >= t0 and body["context"] is None
        return await call(client, "GET", "/admin/status")

    status, body = with_node("lww", calls)
    assert status == 200
    assert body["clock_offset"] == 2.5 and body["members"] == {} and body["hints_pending"] == 0
    assert body["keys"] == 1 and len(body["ring"]) == 16


def test_the_disk_is_slowed_through_the_admin_api():
    async def calls(client, env):
        assert await call(client, "PUT", "/admin/disk", {"sync_delay": 0.25}) == \
            (200, {"sync_delay": 0.25})
        return env.storage.sync_delay

    assert with_node("dynamodb", calls) == 0.25


def test_the_clock_rate_is_set_through_the_admin_api_and_shown_in_status():
    from splitbrain.db.runtime import OsClock

    async def calls(client, env):
        env.clock = OsClock()
        assert await call(client, "PUT", "/admin/clock", {"rate": 1.04}) == \
            (200, {"offset": 0.0, "rate": 1.04})
        return await call(client, "GET", "/admin/status")

    status, body = with_node("dynamo", calls)
    assert status == 200 and body["clock_rate"] == 1.04 and body["clock_offset"] == 0.0
