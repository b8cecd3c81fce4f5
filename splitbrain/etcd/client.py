"""An asyncio client of one etcd member through etcd's v3 JSON gateway (``POST /v3/kv/range``,
``/v3/kv/put``, ``/v3/kv/txn``; keys and values base64), with the call surface of
:class:`splitbrain.db.client.NodeClient` that the register and set workloads use, so they run
unchanged against etcd. No etcd client library: the gateway is plain HTTP+JSON, which aiohttp
(already ours) speaks, and the maintained Python etcd clients are synchronous gRPC wrappers.

Classification, as Jepsen's etcd test does it:

- ``ok``: HTTP 200 (a txn only when its compare ``succeeded``).
- ``fail``: nothing happened for certain: any failure of a read; a refused connection or a
  connect timeout (nothing was sent); a txn whose compare was false (``condition-failed``).
- ``info``: a write whose outcome is unknown: a timeout after sending, a lost connection, any
  error answer of etcd (``etcdserver: request timed out``, ``leader changed``, ``no leader``:
  the proposal may still commit), or an answer that is not etcd's JSON.

Values are JSON text; every ok read carries ``meta.version``, the key's ``mod_revision`` (etcd's
total order of writes, which the staleness checker reads). ``consistency="strong"`` reads are
linearizable ranges, ``"eventual"`` ones serializable (answered by the member from its own
state).
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any, Callable

import aiohttp

from splitbrain.db.client import FAIL, INFO, OK, HttpClient, Reply, exchange

#: A set ``s`` is one key per element under ``s/`` (a register key must not contain it, and no
#: key of ours lies between ``s`` and ``s/`` in byte order, so one range reads either).
SET_SEPARATOR = "/"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def unb64(text: str) -> str:
    return base64.b64decode(text).decode()


def prefix_end(prefix: str) -> str:
    """The range end that selects every key starting with ``prefix`` (etcd's convention: the
    prefix with its last byte plus one)."""
    raw = prefix.encode()
    return base64.b64encode(raw[:-1] + bytes([raw[-1] + 1])).decode()


class EtcdClient(HttpClient):
    """A client of the etcd member whose client URL is ``base_url``; every request is bounded by
    ``timeout`` seconds."""

    # -- the NodeClient surface the workloads use ---------------------------------------------

    async def get(self, key: str, consistency: str | None = None, r: int | None = None, *,
                  timeout: float | None = None) -> Reply:
        """``key`` read in one range (one revision) over the key and the keys under
        ``<key>/``: a register's value as ``[value]``, a set's elements as ``[[e, ...]]``
        (sorted), ``[]`` when neither exists; ``meta.version`` is the register's
        ``mod_revision`` (0 when absent)."""
        prefix = f"{key}{SET_SEPARATOR}"
        body: dict[str, Any] = {"key": b64(key), "range_end": prefix_end(prefix)}
        if consistency == "eventual":
            body["serializable"] = True

        def values(payload: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
            own, elements = None, []
            for kv in payload.get("kvs") or []:
                name = unb64(kv["key"])
                if name == key:
                    own = kv
                elif name.startswith(prefix):
                    elements.append(json.loads(name[len(prefix):]))
            if own is not None:
                return [json.loads(unb64(own.get("value", "")))], \
                    {"version": int(own.get("mod_revision", 0))}
            if elements:
                return [sorted(elements)], {}
            return [], {"version": 0}

        return await self._call("/v3/kv/range", body, read=True, timeout=timeout, value=values)

    async def put(self, key: str, value: Any, context: str | None = None, w: int | None = None,
                  condition: dict | None = None, *, timeout: float | None = None) -> Reply:
        """Write ``value``; with ``condition={"equals": x}``, a compare-and-set as one txn."""
        data = b64(json.dumps(value))
        if condition is None:
            return await self._call("/v3/kv/put", {"key": b64(key), "value": data}, read=False,
                                    timeout=timeout, value=lambda p: (value, _written(p)))
        if set(condition) != {"equals"}:
            raise ValueError(f"etcd conditions are {{'equals': value}}, not {condition!r}")
        body = {"compare": [{"key": b64(key), "target": "VALUE", "result": "EQUAL",
                             "value": b64(json.dumps(condition["equals"]))}],
                "success": [{"requestPut": {"key": b64(key), "value": data}}]}
        return await self._call("/v3/kv/txn", body, read=False, timeout=timeout,
                                value=lambda p: (value, _written(p)), txn=True)

    async def add_to_set(self, key: str, element: Any, *,
                         timeout: float | None = None) -> Reply:
        """Add ``element`` to the set ``key``: a put of the key ``<key>/<element as JSON>``."""
        body = {"key": b64(f"{key}{SET_SEPARATOR}{json.dumps(element)}"), "value": b64("1")}
        return await self._call("/v3/kv/put", body, read=False, timeout=timeout,
                                value=lambda _: (element, {}))

    async def status(self, *, timeout: float | None = None) -> Reply:
        """The member's Raft state in the shape of a splitbrain node's ``/admin/status``
        (:mod:`splitbrain.harness.catchup` reads it): the whole key space is one replicated log,
        ``raft``, whose ``commit_index`` has this member's applied index under its id."""

        def shaped(payload: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
            me = str((payload.get("header") or {}).get("member_id"))
            applied = int(payload.get("raftAppliedIndex") or payload.get("raftIndex") or 0)
            return {"name": me, "leader": payload.get("leader"),
                    "partitions": {"raft": {"commit_index": {me: applied}}}}, {}

        return await self._call("/v3/maintenance/status", {}, read=True, timeout=timeout,
                                value=shaped)

    async def health(self, *, timeout: float | None = None) -> Reply:
        """Ok when the member says ``{"health": "true"}`` (it has a leader)."""
        payload = await self._health(timeout)
        if isinstance(payload, dict) and payload.get("health") == "true":
            return Reply(OK, value=payload)
        return Reply(FAIL, error="unhealthy", meta={"message": json.dumps(payload)})

    async def serving(self, *, timeout: float | None = None) -> bool:
        """True when the member answers ``/health`` at all, leader or not."""
        payload = await self._health(timeout)
        return isinstance(payload, dict) and "health" in payload

    async def _health(self, timeout: float | None) -> Any:
        t = self.timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(t):
                async with self._http().get(self.base_url + "/health") as resp:
                    return await resp.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, TimeoutError, ValueError):
            return None

    # -- classification -------------------------------------------------------------------------

    async def _call(self, path: str, body: dict[str, Any], *, read: bool, timeout: float | None,
                    value: Callable[[dict[str, Any]], tuple[Any, dict[str, Any]]],
                    txn: bool = False) -> Reply:
        uncertain = FAIL if read else INFO
        answer = await exchange(self._http(), "POST", self.base_url + path, body, read=read,
                                timeout=self.timeout if timeout is None else timeout)
        if isinstance(answer, Reply):
            return answer
        status, payload = answer
        if status != 200:
            message = str(payload.get("error") or payload.get("message") or f"HTTP {status}")
            return Reply(uncertain, error=_error_code(message), meta={"message": message})
        if txn and not payload.get("succeeded"):
            return Reply(FAIL, error="condition-failed")
        out, meta = value(payload)
        return Reply(OK, value=out, meta=meta)


def _written(payload: dict[str, Any]) -> dict[str, Any]:
    """A write's ``meta``: ``version``, the revision it created (the key's new
    ``mod_revision``)."""
    revision = (payload.get("header") or {}).get("revision")
    return {"version": int(revision)} if revision is not None else {}


def _error_code(message: str) -> str:
    """A short code for etcd's error sentence (``etcdserver: request timed out`` ->
    ``request-timed-out``)."""
    text = message.removeprefix("etcdserver: ").strip().lower()
    return "-".join(text.split()[:4]) or "error"
