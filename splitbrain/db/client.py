"""The asyncio client of a splitbrain node (docs/node-api.md, "splitbrain.db.client").

Every call returns a :class:`Reply` whose ``type`` is already the history's completion type:

- ``ok``: the node answered 200.
- ``fail``: the operation certainly did not take effect: a definite error from the node
  (``definite: true``), a refused connection or a connect timeout (nothing was sent), or any
  failure of a read (a read has no effect to be uncertain about).
- ``info``: a write whose outcome is unknown: a timeout after the request may have been sent,
  a connection lost mid-request, an indefinite error (``definite: false``), or an answer that
  is not the node's JSON.

The client never raises for a network or node failure; it raises only for programming errors.
One ``aiohttp`` session per client keeps HTTP connections alive across requests.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Self
from urllib.parse import quote

import aiohttp
from yarl import URL

OK, FAIL, INFO = "ok", "fail", "info"


@dataclass
class Reply:
    """One operation's outcome.

    ``value``: for ``get`` the list of values read (all siblings in dynamo mode, ``[]`` when
    the key is absent); for ``put``/``add``/``add_to_set`` the argument written (as a history's
    completion echoes its invocation); for ``status``/``health``/``set_clock_offset`` the
    node's JSON body. ``None`` unless ``type == "ok"``.
    ``error``: a short machine-readable reason on ``fail``/``info``: the node's error code
    (``unavailable``, ``timeout``, ``condition-failed``, ...) or one of ``connection-refused``,
    ``connect-timeout``, ``client-timeout``, ``connection-lost``, ``bad-response``.
    ``meta``: what the history's ``meta`` needs, only the keys the node returned: ``context``
    (dynamo), ``ts`` (lww), ``version`` and ``replica`` (dynamodb: which replica answered a read,
    and how many log entries it had applied), ``quorum`` (dynamo, lww: ``{"needed",
    "answered", "fallbacks"}``, how many replicas answered a read or acknowledged a write and
    how many of them stood in for an owner), ``siblings`` (``True`` in dynamo mode,
    recognised by the presence of a context), ``values`` (the new values after an
    ``add``/``add_to_set``), and ``message`` (the node's sentence) on errors.
    """

    type: str
    value: Any = None
    error: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


class HttpClient:
    """What every HTTP client of the tester shares (this node's, etcd's): ``base_url``, a
    ``timeout`` in seconds per request, and one kept-alive aiohttp session that never resends a
    request (:meth:`_http`); an async context manager that closes it."""

    def __init__(self, base_url: str, timeout: float = 1.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=0, force_close=False, enable_cleanup_closed=True)
            self._session = aiohttp.ClientSession(connector=connector, json_serialize=json.dumps)
            # aiohttp silently resends an idempotent request (PUT) on a new connection when a
            # kept-alive one dies mid-request; if the resend is refused we would record `fail`
            # for a write the first attempt may have applied. One attempt per call, always.
            self._session._retry_connection = False
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


class NodeClient(HttpClient):
    """A client of the node at ``base_url`` (e.g. ``http://127.0.0.1:7001``). Each request is
    bounded by ``timeout`` seconds (overridable per call)."""

    def _kv_url(self, key: str, suffix: str = "") -> URL:
        if not isinstance(key, str):
            raise TypeError(f"keys are strings, not {type(key).__name__}")
        return URL(f"{self.base_url}/kv/{quote(key, safe='')}{suffix}", encoded=True)

    # -- data -----------------------------------------------------------------------------

    async def get(self, key: str, consistency: str | None = None, r: int | None = None, *,
                  timeout: float | None = None) -> Reply:
        params = {}
        if consistency is not None:
            params["consistency"] = consistency
        if r is not None:
            params["r"] = str(r)
        url = self._kv_url(key)
        if params:
            url = url.with_query(params)
        return await self._call("GET", url, None, read=True, timeout=timeout,
                                value=lambda body: body.get("values"))

    async def put(self, key: str, value: Any, context: str | None = None, w: int | None = None,
                  condition: dict | None = None, *, timeout: float | None = None) -> Reply:
        body: dict[str, Any] = {"value": value}
        if context is not None:
            body["context"] = context
        if w is not None:
            body["w"] = w
        if condition is not None:
            body["condition"] = condition
        return await self._call("PUT", self._kv_url(key), body, read=False, timeout=timeout,
                                value=lambda _: value)

    async def add(self, key: str, delta: int | float, *, timeout: float | None = None) -> Reply:
        return await self._call("POST", self._kv_url(key, "/add"), {"delta": delta}, read=False,
                                timeout=timeout, value=lambda _: delta)

    async def add_to_set(self, key: str, element: Any, *, timeout: float | None = None) -> Reply:
        return await self._call("POST", self._kv_url(key, "/add-to-set"), {"element": element},
                                read=False, timeout=timeout, value=lambda _: element)

    # -- admin ----------------------------------------------------------------------------

    async def status(self, *, timeout: float | None = None) -> Reply:
        return await self._call("GET", URL(self.base_url + "/admin/status"), None, read=True,
                                timeout=timeout, value=lambda body: body)

    async def health(self, *, timeout: float | None = None) -> Reply:
        return await self._call("GET", URL(self.base_url + "/health"), None, read=True,
                                timeout=timeout, value=lambda body: body)

    async def repair(self, *, timeout: float | None = None) -> Reply:
        """``POST /admin/anti-entropy``: the node starts comparing every range it owns with the
        other owners (dynamo, lww)."""
        return await self._call("POST", URL(self.base_url + "/admin/anti-entropy"), {},
                                read=True, timeout=timeout, value=lambda body: body)

    async def set_clock_offset(self, seconds: float, *, timeout: float | None = None) -> Reply:
        return await self.set_clock({"offset": seconds}, timeout=timeout)

    async def set_clock(self, body: dict[str, float], *, timeout: float | None = None) -> Reply:
        """``PUT /admin/clock`` with ``body``: ``offset`` (seconds) and/or ``rate``."""
        return await self._call("PUT", URL(self.base_url + "/admin/clock"), body,
                                read=False, timeout=timeout, value=lambda body: body)

    async def set_disk(self, body: dict[str, float], *,
                       timeout: float | None = None) -> Reply:
        """``PUT /admin/disk`` with ``body``: ``sync_delay`` (seconds)."""
        return await self._call("PUT", URL(self.base_url + "/admin/disk"), body,
                                read=False, timeout=timeout, value=lambda body: body)

    # -- classification -------------------------------------------------------------------

    async def _call(self, method: str, url: URL, body: dict | None, *, read: bool,
                    timeout: float | None, value: Any) -> Reply:
        answer = await exchange(self._http(), method, url, body, read=read,
                                timeout=self.timeout if timeout is None else timeout)
        if isinstance(answer, Reply):
            return answer
        status, payload = answer
        return classify(status, payload, read=read, value=value)


#: Transport failures that prove the request was never sent (so nothing took effect).
NOT_SENT = ("connection-refused", "connect-timeout")


def lost(error: str, *, read: bool) -> Reply:
    """The reply to a request that got no answer: ``fail`` when ``error`` is one of
    :data:`NOT_SENT` or the request is a read, else ``info`` (the write may have happened)."""
    return Reply(FAIL if read or error in NOT_SENT else INFO, error=error)


def classify(status: int, payload: Any, *, read: bool, value: Callable[[dict], Any]) -> Reply:
    """The reply to an answer with HTTP ``status`` and decoded JSON ``payload`` (None when the
    body was not JSON); ``value(payload)`` is the reply's value on success. The one place that
    turns a node's answer into a history completion, for this client and the simulator's."""
    uncertain = FAIL if read else INFO
    if not isinstance(payload, dict):
        return Reply(uncertain, error="bad-response",
                     meta={"message": f"HTTP {status} with a body that is not a JSON object"})
    if status == 200:
        return Reply(OK, value=value(payload), meta=_meta(payload, new_values=not read))
    code = payload.get("error")
    definite = payload.get("definite")
    if not isinstance(code, str) or not isinstance(definite, bool):
        return Reply(uncertain, error="bad-response",
                     meta={"message": f"HTTP {status} without the node's error fields"})
    meta = {"message": payload.get("message")}
    return Reply(FAIL if definite or read else INFO, error=code, meta=meta)


async def exchange(session: aiohttp.ClientSession, method: str, url: URL | str,
                   body: dict | None, *, read: bool, timeout: float
                   ) -> tuple[int, Any] | Reply:
    """One HTTP request with a JSON body: ``(status, payload)``, the payload decoded from JSON
    (None when the body is not JSON), or, when no answer came, the :class:`Reply` :func:`lost`
    gives. Shared by every client the tester uses (this node's, etcd's), so that they classify
    a lost request alike."""
    try:
        async with asyncio.timeout(timeout):
            async with session.request(method, url, json=body) as resp:
                raw = await resp.read()
                status = resp.status
    except aiohttp.ClientConnectorError:
        return lost("connection-refused", read=read)
    except aiohttp.ConnectionTimeoutError:
        return lost("connect-timeout", read=read)
    except (asyncio.TimeoutError, TimeoutError):
        return lost("client-timeout", read=read)
    except aiohttp.ClientError:
        return lost("connection-lost", read=read)
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, None


def _meta(payload: dict[str, Any], *, new_values: bool) -> dict[str, Any]:
    meta = {k: payload[k] for k in ("context", "ts", "version", "replica", "quorum")
            if payload.get(k) is not None}
    if "context" in meta:
        meta["siblings"] = True
    if new_values and payload.get("values"):
        meta["values"] = payload["values"]
    return meta
