"""A node's disk in the simulation: the :class:`splitbrain.db.env.Storage` contract, with the
part real disks make hard to test made explicit.

- ``put``/``delete`` are seen at once by readers of the same :class:`SimStorage` and are
  recorded, encoded with msgpack as the real log encodes them, in a pending list.
- ``sync()`` takes ``sync_latency`` virtual seconds (plus the incarnation's ``sync_delay``, a
  slowed disk's, as ``PUT /admin/disk`` sets) and makes durable exactly the changes pending
  when it was called (later ones wait for a later sync), as an fsync does.
- A disk built with ``lies=True`` acknowledges every sync and makes nothing durable (a disk
  or controller that drops its cache on power loss): an environment fault planted to show
  that the checkers and the shrinker catch what it breaks.
- :meth:`SimDisk.crash` throws away every pending change and fences the incarnation that made
  them: its later puts and syncs reach nothing, since its process is gone. The next
  incarnation (:meth:`SimDisk.mount`) reads back only what was durable.
"""

from __future__ import annotations

from typing import Any, Iterator

import msgpack

from splitbrain.sim import loop as virtual

_DELETE = None


#: One encoder for every record (msgpack.packb builds a new one per call); it resets itself
#: after each record, also after refusing one.
_pack = msgpack.Packer(use_bin_type=True).pack


def _unpack(raw: bytes) -> Any:
    return msgpack.unpackb(raw, raw=False, strict_map_key=False)


class SimDisk:
    """The durable contents of one node's disk, across its incarnations."""

    def __init__(self, sync_latency: float = 0.001, *, lies: bool = False):
        self.sync_latency = sync_latency
        self.lies = lies
        self.durable: dict[str, dict[Any, bytes]] = {}
        self.current: SimStorage | None = None
        self.syncs = 0
        self.lost = 0

    def mount(self) -> "SimStorage":
        """A new incarnation's view of the disk: the durable data, nothing else."""
        self.current = SimStorage(self)
        return self.current

    def crash(self) -> None:
        """Lose every change not yet synced and fence the incarnation that made them."""
        if self.current is not None:
            self.lost += len(self.current._pending)
            self.current._pending.clear()
            self.current._fenced = True
            self.current = None

    def _commit(self, changes: list[tuple[str, Any, bytes | None]]) -> None:
        self.syncs += 1
        if self.lies:
            return
        for table, key, raw in changes:
            if raw is _DELETE:
                self.durable.get(table, {}).pop(key, None)
            else:
                self.durable.setdefault(table, {})[key] = raw


class SimStorage:
    """One incarnation's view of a :class:`SimDisk` (see the module docstring)."""

    def __init__(self, disk: SimDisk):
        self._disk = disk
        self._live = {t: {k: _unpack(v) for k, v in rows.items()}
                      for t, rows in disk.durable.items()}
        self._pending: list[tuple[str, Any, bytes | None]] = []
        self._written = 0  # changes recorded by this incarnation
        self._committed = 0  # of which durable
        self._fenced = False
        self.sync_delay = 0.0

    def get(self, table: str, key: Any, default: Any = None) -> Any:
        return self._live.get(table, {}).get(key, default)

    def put(self, table: str, key: Any, value: Any) -> None:
        raw = _pack(value)  # first: a value msgpack refuses changes nothing, as on a real disk
        self._live.setdefault(table, {})[key] = value
        self._record(table, key, raw)

    def delete(self, table: str, key: Any) -> None:
        self._live.get(table, {}).pop(key, None)
        self._record(table, key, _DELETE)

    def scan(self, table: str) -> Iterator[tuple[Any, Any]]:
        return iter(list(self._live.get(table, {}).items()))

    def _record(self, table: str, key: Any, raw: bytes | None) -> None:
        if not self._fenced:
            self._pending.append((table, key, raw))
            self._written += 1

    async def sync(self) -> None:
        target = self._written
        await virtual.sleep(self._disk.sync_latency + self.sync_delay)
        if self._fenced or target <= self._committed:
            return  # the process is gone, or a sync that finished meanwhile covered these
        n = target - self._committed
        done, self._pending = self._pending[:n], self._pending[n:]
        self._committed = target
        self._disk._commit(done)

    def close(self) -> None:
        pass
