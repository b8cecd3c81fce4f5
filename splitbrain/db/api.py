"""The node's HTTP/JSON client API (docs/node-api.md): requests in, :class:`Store` calls,
JSON answers out.

Every failure becomes the JSON error body of docs/node-api.md: a :class:`NodeError` from the
store as it is, a malformed request as ``bad-request`` (definite), an unknown path as
``not-found``, and an unexpected exception as ``internal`` (indefinite: it may have happened).
No request can take the node down.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Awaitable, Callable

import msgpack
from aiohttp import web

from splitbrain.db.env import Env
from splitbrain.db.errors import NodeError, bad_request
from splitbrain.db.store import ReadResult, Repairable, Store, WriteResult

log = logging.getLogger("splitbrain.node")

MAX_KEY_BYTES = 1024
CONSISTENCIES = ("strong", "eventual")


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _answer(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(text=_dumps(body), status=status, content_type="application/json")


def _error(e: NodeError) -> web.Response:
    return _answer(e.to_dict(), e.status)


@web.middleware
async def _errors(request: web.Request,
                  handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                  ) -> web.StreamResponse:
    try:
        return await handler(request)
    except NodeError as e:
        return _error(e)
    except web.HTTPNotFound:
        return _error(NodeError("not-found", f"there is no {request.path}; the API has /kv/KEY, "
                                "/health, /admin/status, /admin/clock and /admin/disk.",
                                definite=True))
    except web.HTTPMethodNotAllowed as e:
        return _error(bad_request(f"{request.method} is not allowed on {request.path}; use "
                                  f"{' or '.join(sorted(e.allowed_methods))}."))
    except web.HTTPRequestEntityTooLarge:
        return _error(bad_request("the request body is larger than the node accepts; send a "
                                  "smaller value."))
    except Exception:
        log.exception("internal error serving %s %s", request.method, request.path)
        return _error(internal_error())


def internal_error() -> NodeError:
    """What an unexpected exception while serving a request becomes (indefinite)."""
    return NodeError("internal", "the node hit an internal error; the operation may or may "
                     "not have taken effect.", definite=False)


def read_answer(key: str, res: ReadResult) -> dict[str, Any]:
    """The JSON body answering a read of ``key`` (with the ``replica`` that answered, when the
    read was served from one replica's own state, and the ``quorum`` that answered a quorum
    read)."""
    body = {"key": key, "values": res.values, "context": res.context, "version": res.version,
            "ts": res.ts}
    if res.replica is not None:
        body["replica"] = res.replica
    if res.quorum is not None:
        body["quorum"] = res.quorum
    return body


def put_answer(res: WriteResult) -> dict[str, Any]:
    """The JSON body answering a put (with the ``quorum`` that acknowledged it, when one did)."""
    body = {"ok": True, "version": res.version, "ts": res.ts, "context": res.context}
    if res.quorum is not None:
        body["quorum"] = res.quorum
    return body


def written_answer(res: WriteResult) -> dict[str, Any]:
    """The JSON body answering an add or an add-to-set (with the new values)."""
    return {"ok": True, "values": res.values, "version": res.version, "ts": res.ts,
            "context": res.context}


def repair_answer(store: Store, mode: str) -> dict[str, Any]:
    """Answer ``POST /admin/anti-entropy``: the ``store`` (of ``mode``) starts an anti-entropy
    exchange of every range it owns with each other owner; ``{"exchanges": k}``. Raises
    ``bad-request`` in a mode without anti-entropy."""
    if not isinstance(store, Repairable):
        raise bad_request(f"anti-entropy exists only in dynamo and lww modes, not {mode}.")
    return {"exchanges": store.repair()}


class Api:
    """The request handlers of one node. ``env`` gives its name, config and clock."""

    def __init__(self, store: Store, env: Env):
        self.store = store
        self.env = env
        self.mode = env.config.mode
        self.max_value_bytes = env.config.max_value_bytes

    def app(self) -> web.Application:
        app = web.Application(middlewares=[_errors],
                              client_max_size=4 * self.max_value_bytes + (64 << 10))
        app.router.add_get("/health", self.health)
        app.router.add_get("/admin/status", self.status)
        app.router.add_put("/admin/clock", self.set_clock)
        app.router.add_put("/admin/disk", self.set_disk)
        app.router.add_post("/admin/anti-entropy", self.anti_entropy)
        app.router.add_get("/kv/{key}", self.get)
        app.router.add_put("/kv/{key}", self.put)
        app.router.add_post("/kv/{key}/add", self.add)
        app.router.add_post("/kv/{key}/add-to-set", self.add_to_set)
        return app

    # -- admin ------------------------------------------------------------------------

    async def health(self, request: web.Request) -> web.Response:
        return _answer({"ok": True, "name": self.env.name, "mode": self.mode})

    async def status(self, request: web.Request) -> web.Response:
        return _answer({"name": self.env.name, "mode": self.mode,
                        "clock_offset": self.env.clock.offset, "clock_rate": self.env.clock.rate,
                        **self.store.status()})

    async def set_clock(self, request: web.Request) -> web.Response:
        """``{"offset": S}`` sets the wall-clock offset; ``{"rate": R}`` (0.1 to 10) the
        monotonic clock's rate; a body may carry both."""
        body = await _body(request)
        if "rate" in body:
            rate = float(_number(body, "rate", 1.05))
            if not 0.1 <= rate <= 10:
                raise bad_request(f"the clock rate must be from 0.1 to 10, not {rate:g}.")
            try:
                self.env.clock.set_rate(rate)
            except ValueError as e:
                raise bad_request(f"{e}; its rate cannot be set.") from None
        if "offset" in body or "rate" not in body:
            self.env.clock.offset = float(_number(body, "offset", 2.5))
        return _answer({"offset": self.env.clock.offset, "rate": self.env.clock.rate})

    async def set_disk(self, request: web.Request) -> web.Response:
        """``{"sync_delay": S}`` (0 to 10 seconds) makes every storage sync of this process
        start S seconds late, a slow disk; 0 restores it. A restarted node starts at 0."""
        body = await _body(request)
        delay = float(_number(body, "sync_delay", 0.05))
        if not 0 <= delay <= 10:
            raise bad_request(f"the sync delay must be from 0 to 10 seconds, not {delay:g}.")
        self.env.storage.sync_delay = delay
        return _answer({"sync_delay": delay})

    async def anti_entropy(self, request: web.Request) -> web.Response:
        return _answer(repair_answer(self.store, self.mode))

    # -- data -------------------------------------------------------------------------

    async def get(self, request: web.Request) -> web.Response:
        key = _key(request)
        q = request.query
        consistency = q.get("consistency")
        if consistency is not None and consistency not in CONSISTENCIES:
            raise bad_request(f"consistency must be strong or eventual, not {consistency!r}.")
        r = _positive(q["r"], "r") if "r" in q else None
        res: ReadResult = await self.store.get(key, consistency=consistency, r=r)
        return _answer(read_answer(key, res))

    async def put(self, request: web.Request) -> web.Response:
        key = _key(request)
        body = await _body(request)
        value = self._sized(body, "value")
        context = body.get("context")
        if context is not None and not isinstance(context, str):
            raise bad_request("'context' must be the string a read returned, or absent.")
        w = _positive(body["w"], "w") if body.get("w") is not None else None
        condition = body.get("condition")
        if condition is not None and not isinstance(condition, dict):
            raise bad_request("'condition' must be an object such as {\"absent\": true}.")
        res: WriteResult = await self.store.put(key, value, context=context, w=w,
                                                condition=condition)
        return _answer(put_answer(res))

    async def add(self, request: web.Request) -> web.Response:
        key = _key(request)
        delta = _number(await _body(request), "delta", 5)
        return _written(await self.store.add(key, delta))

    async def add_to_set(self, request: web.Request) -> web.Response:
        key = _key(request)
        element = self._sized(await _body(request), "element")
        return _written(await self.store.add_to_set(key, element))

    def _sized(self, body: dict[str, Any], name: str) -> Any:
        """Field ``name`` of ``body``: required, at most ``max_value_bytes`` encoded."""
        if name not in body:
            raise bad_request(f"the body needs a '{name}', e.g. {{\"{name}\": 3}}.")
        size = len(_dumps(body[name]).encode())
        if size > self.max_value_bytes:
            raise bad_request(f"the {name} is {size} bytes encoded, over this cluster's "
                              f"max_value_bytes of {self.max_value_bytes}.")
        try:
            msgpack.packb(body[name])
        except OverflowError:
            raise bad_request(f"the {name} holds an integer beyond 64 bits; send it as a "
                              f"string.") from None
        return body[name]


def _written(res: WriteResult) -> web.Response:
    return _answer(written_answer(res))


def _key(request: web.Request) -> str:
    key = request.match_info["key"]
    if not key or len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise bad_request(f"keys must be non-empty strings of at most {MAX_KEY_BYTES} bytes.")
    return key


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    try:
        body = json.loads(raw, parse_constant=_no_constant)
    except ValueError:
        raise bad_request("the request body is not valid JSON (NaN and Infinity are not JSON "
                          "either); send a JSON object.") from None
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object.")
    return body


def _number(body: dict[str, Any], name: str, example: float) -> float | int:
    v = body.get(name)
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not -2**63 <= v < 2**63:
        raise bad_request(f"the body needs a number '{name}' within 64-bit range, e.g. "
                          f"{{\"{name}\": {example}}}.")
    return v


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _positive(raw: Any, name: str) -> int:
    try:
        v = int(raw)
    except (TypeError, ValueError):
        v = 0
    if v < 1 or isinstance(raw, (bool, float)):
        raise bad_request(f"{name} must be a positive integer, not {raw!r}.")
    return v
