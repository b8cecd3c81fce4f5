"""The real environment of a node process: TCP between peers, the OS clock, fsynced files.

- :class:`TcpTransport`: frames of ``4-byte big-endian length + msgpack`` over TCP. A node
  sends only over connections it opened, dialling ``config.peer_route(self, dest)`` so that the
  tester's proxy on the directed link (self, dest) sees exactly self's messages to dest. The first
  frame of a connection names the sender. A link that is down is re-dialled with exponential
  backoff, queueing (up to a bound) what is sent meanwhile; a failed dial drops the queue, and
  a full send buffer (a paused peer) drops new messages, as the
  :class:`~splitbrain.db.env.Transport` contract allows.
- :class:`OsClock`: ``time.time()`` plus a settable offset; ``time.monotonic()``.
- :class:`FileStorage`: an append-only log of checksummed msgpack records replayed at start,
  with group commit: every ``sync()`` waiting while an fsync runs shares the next one. Fast
  fsyncs run on the event loop, slow ones (averaging 2 ms or more) on the storage's own thread.
  ``sync_delay`` (``PUT /admin/disk``) makes every write-and-fsync start that many seconds
  late, as a stalled or degraded disk would: the records stay in the node's memory meanwhile.

The log file (rules of :class:`FileStorage`'s format):

- It starts with ``LOG_MAGIC``; a file without it is refused (no other format exists yet).
- Then records, each ``4-byte big-endian body length + 4-byte CRC-32 of (length bytes + body) +
  body``, the body being the msgpack of ``[op, table, key, value]``.
- Beside it, ``log.synced`` holds the log's inode and how many of its bytes are durable
  (:data:`_SYNCED`), rewritten after every fsync without being synced itself: a process
  crash keeps it (the page cache survives), so :func:`drop_unsynced` can cut the log back to
  what was synced, as a power loss would (Jepsen's lazyfs). The node never reads it.
- Replay stops at the first record that is cut short or fails its checksum. If no intact record
  starts anywhere after it, it is a torn tail (a crash mid-append of writes never reported
  durable) and is dropped; otherwise the log is corrupt and :class:`CorruptLog` is raised
  (dropping that record and every intact one after it would lose acknowledged data).
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import struct
import threading
import time
import zlib
from pathlib import Path
from typing import Any, Iterator

import msgpack

from splitbrain.db.config import ClusterConfig
from splitbrain.db.env import Handler, Message

log = logging.getLogger("splitbrain.node")

_LEN = struct.Struct(">I")
MAX_FRAME = 64 << 20


def frame(obj: Any) -> bytes:
    """One length-prefixed msgpack frame."""
    body = msgpack.packb(obj, use_bin_type=True)
    return _LEN.pack(len(body)) + body


class FrameDecoder:
    """Incremental decoder: ``feed(data)`` returns the complete objects seen so far."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Any]:
        self._buf += data
        out, pos, buf = [], 0, self._buf
        while len(buf) - pos >= 4:
            (size,) = _LEN.unpack_from(buf, pos)
            if size > MAX_FRAME:
                raise ValueError(f"peer frame of {size} bytes exceeds the {MAX_FRAME} limit")
            if len(buf) - pos - 4 < size:
                break
            out.append(msgpack.unpackb(bytes(buf[pos + 4:pos + 4 + size]), raw=False,
                                       strict_map_key=False))
            pos += 4 + size
        del buf[:pos]
        return out


# ---------------------------------------------------------------------------------------------
# Transport


class _Link:
    """The outgoing connection from this node to one peer."""

    def __init__(self) -> None:
        self.writer: asyncio.StreamWriter | None = None
        self.connecting = False
        self.pending: list[bytes] = []
        self.outbox: list[bytes] = []
        self.next_attempt = 0.0
        self.backoff = 0.05


class TcpTransport:
    """The :class:`~splitbrain.db.env.Transport` of a node process."""

    MAX_PENDING = 1000
    MAX_BUFFERED = 8 << 20
    MAX_BACKOFF = 0.5
    CONNECT_TIMEOUT = 1.0

    def __init__(self, name: str, config: ClusterConfig):
        self.name = name
        self.config = config
        self._handler: Handler | None = None
        self._links: dict[str, _Link] = {}
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task] = set()
        self._inbound: set[_Inbound] = set()
        self._last_msg: Message | None = None
        self._last_frame = b""
        self._closed = False

    def set_handler(self, handler: Handler) -> None:
        self._handler = handler

    async def start(self) -> None:
        """Listen on this node's peer port. Raises OSError when the port cannot be bound."""
        spec = self.config.node(self.name)
        self._server = await asyncio.get_running_loop().create_server(
            lambda: _Inbound(self), spec.host, spec.peer_port, reuse_address=True)

    async def close(self) -> None:
        self._closed = True
        if self._server is not None:
            self._server.close()
        for inbound in list(self._inbound):
            inbound.close()
        for link in self._links.values():
            if link.writer is not None:
                link.writer.close()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def send(self, dest: str, msg: Message) -> None:
        if self._closed:
            return
        link = self._links.get(dest)
        if link is None:
            link = self._links[dest] = _Link()
        if msg is not self._last_msg:  # one encoding for a message sent to several peers
            self._last_msg, self._last_frame = msg, frame(msg)
        data = self._last_frame
        w = link.writer
        if w is not None:
            if w.is_closing():
                link.writer = None
            else:
                if w.transport.get_write_buffer_size() < self.MAX_BUFFERED:
                    # Coalesce this loop iteration's messages to the peer into one write.
                    if not link.outbox:
                        asyncio.get_running_loop().call_soon(self._flush, link)
                    link.outbox.append(data)
                return
        if len(link.pending) < self.MAX_PENDING:
            link.pending.append(data)
        if not link.connecting:
            link.connecting = True
            self._spawn(self._connect(dest, link))

    @staticmethod
    def _flush(link: _Link) -> None:
        data, link.outbox = b"".join(link.outbox), []
        if link.writer is not None and not link.writer.is_closing():
            link.writer.write(data)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a peer message handler failed", exc_info=task.exception())

    async def _connect(self, dest: str, link: _Link) -> None:
        """Dial ``dest`` (after the link's backoff), then flush what was queued meanwhile. A
        failed dial drops the queue: those messages are lost, as on a partition."""
        await asyncio.sleep(max(0.0, link.next_attempt - time.monotonic()))
        address = self.config.peer_route(self.name, dest)
        host, _, port = address.rpartition(":")
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)),
                                                    self.CONNECT_TIMEOUT)
        except (OSError, asyncio.TimeoutError):
            link.connecting = False
            link.pending.clear()
            link.next_attempt = time.monotonic() + link.backoff
            link.backoff = min(link.backoff * 2, self.MAX_BACKOFF)
            return
        link.connecting = False
        link.backoff = 0.05
        writer.write(frame({"hello": self.name}))
        for data in link.pending:
            writer.write(data)
        link.pending.clear()
        link.writer = writer
        # The peer never writes on this connection: EOF or an error means it is gone.
        try:
            await reader.read()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            if link.writer is writer:
                link.writer = None
            writer.close()

    def _deliver(self, src: str, msg: Message) -> None:
        if self._handler is None or self._closed:
            return
        try:
            result = self._handler(src, msg)
        except Exception:
            log.exception("a peer message handler failed on a message from %s", src)
            return
        if asyncio.iscoroutine(result):
            self._spawn(result)


class _Inbound(asyncio.Protocol):
    """One connection a peer opened to this node: frames are decoded and handed to the
    transport's handler as the bytes arrive, in the event loop's own callback (no stream or
    task per connection to wake). The first frame names the sender; a connection whose first
    frame does not, or that sends a frame that cannot be decoded, is closed."""

    def __init__(self, owner: "TcpTransport") -> None:
        self.owner = owner
        self.decoder = FrameDecoder()
        self.src: str | None = None
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.owner._inbound.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner._inbound.discard(self)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        try:
            msgs = self.decoder.feed(data)
        except (ValueError, msgpack.UnpackException) as e:
            log.warning("dropping a peer connection from %s: %s", self.src, e)
            self.close()
            return
        for msg in msgs:
            if self.src is None:
                src = msg.get("hello") if isinstance(msg, dict) else None
                if not isinstance(src, str):
                    self.close()
                    return
                self.src = src
                continue
            self.owner._deliver(self.src, msg)


# ---------------------------------------------------------------------------------------------
# Clock


class OsClock:
    """The OS clock plus a settable wall-clock offset (seconds) and a settable monotonic
    rate: after ``set_rate(r)`` the monotonic clock advances ``r`` seconds per real second,
    continuing from where it was (the clock-rate nemesis; leases and timers read it)."""

    def __init__(self, offset: float = 0.0):
        self.offset = offset
        self.rate = 1.0
        self._base = self._anchor = time.monotonic()

    def wall(self) -> float:
        return time.time() + self.offset

    def monotonic(self) -> float:
        return self._base + (time.monotonic() - self._anchor) * self.rate

    def set_rate(self, rate: float) -> None:
        self._base, self._anchor, self.rate = self.monotonic(), time.monotonic(), rate


# ---------------------------------------------------------------------------------------------
# Storage

_PUT, _DELETE = 0, 1
_ABSENT = object()
LOG_MAGIC = b"splitbrain log v2\n"
_HEAD = struct.Struct(">II")
_SYNCED = struct.Struct(">QQ")  # the log's inode, its durable length in bytes


def drop_unsynced(directory: str | os.PathLike) -> int:
    """Cut the log of the :class:`FileStorage` in ``directory`` back to the length its last
    fsync made durable, dropping what the node wrote to the OS but had not synced, as a power
    loss would; call it only while no node process uses the directory. Returns the bytes
    dropped (0 when the log has nothing unsynced, or when ``log.synced`` is missing or names
    another file: the log was just replaced by a synced compaction)."""
    d = Path(directory)
    try:
        ino, durable = _SYNCED.unpack((d / "log.synced").read_bytes()[:_SYNCED.size])
        st = os.stat(d / "log")
    except (FileNotFoundError, struct.error):
        return 0
    if st.st_ino != ino or st.st_size <= durable:
        return 0
    os.truncate(d / "log", durable)
    return st.st_size - durable


def _settle(fut: asyncio.Future, outcome: float | OSError) -> None:
    if fut.done():
        return
    if isinstance(outcome, OSError):
        fut.set_exception(outcome)
    else:
        fut.set_result(outcome)


class CorruptLog(Exception):
    """A node's log holds a damaged record followed by intact ones; the message is one
    sentence naming the file and the byte offset."""


def _record(record: list) -> bytes:
    """One log record: length, CRC-32 of length and body, msgpack body."""
    body = msgpack.packb(record, use_bin_type=True)
    size = _LEN.pack(len(body))
    return size + _LEN.pack(zlib.crc32(body, zlib.crc32(size))) + body


def _intact_at(data: bytes | bytearray, pos: int) -> int:
    """The end of the intact record at ``data[pos:]``; 0 when it is cut short or fails its
    checksum."""
    if len(data) - pos < _HEAD.size:
        return 0
    size, crc = _HEAD.unpack_from(data, pos)
    end = pos + _HEAD.size + size
    if end > len(data):
        return 0
    with memoryview(data) as view:  # released at once: the caller may resize ``data``
        intact = zlib.crc32(view[pos + _HEAD.size:end], zlib.crc32(view[pos:pos + 4])) == crc
    return end if intact else 0


def _any_intact_after(data: bytes, pos: int) -> bool:
    """Whether an intact record starts anywhere in ``data`` after offset ``pos``."""
    return any(_intact_at(data, i) for i in range(pos + 1, len(data) - _HEAD.size + 1))


def _hashable(key: Any) -> Any:
    """msgpack decodes tuples as lists; table keys must stay hashable."""
    if isinstance(key, list):
        return tuple(_hashable(k) for k in key)
    return key


class FileStorage:
    """A durable :class:`~splitbrain.db.env.Storage` in ``directory``.

    Every change is appended to ``log`` as a checksummed msgpack record ``[op, table, key,
    value]`` (format at the top of this module) and applied to the in-memory tables at once;
    ``sync()`` writes the appended records and fsyncs them, sharing one fsync among every caller
    waiting at that moment (group commit). At open the log is replayed (a torn record at its
    end, from a crash mid-write, is discarded; a damaged record followed by intact ones raises
    :class:`CorruptLog`) and rewritten compactly; it is compacted again when it has grown past
    both ``compact_bytes`` and twice its size after the last compaction. After a failed write or fsync the log is
    in an unknown state, so that sync and every later one raise the OSError (nothing appended
    after it is ever reported durable).
    """

    # While fsyncs take less than this on average, they run on the event loop itself: cheaper
    # than a thread handoff, and writers arriving meanwhile still share the next one. Slower
    # disks get a thread.
    INLINE_FSYNC = 0.002

    def __init__(self, directory: str | os.PathLike, *, compact_bytes: int = 256 << 20):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / "log"
        self.compact_bytes = compact_bytes
        self.sync_delay = 0.0
        self.syncs = 0
        self._tables: dict[str, dict[Any, Any]] = {}
        self._buf = bytearray()
        self._appended = 0
        self._durable = 0
        self._waiters: list[tuple[int, asyncio.Future]] = []
        self._flusher: asyncio.Task | None = None
        self._fsync_avg = 0.0
        self._failed: OSError | None = None
        self._synced_fd = os.open(self.dir / "log.synced", os.O_WRONLY | os.O_CREAT, 0o644)
        self._size = 0  # of the log file: what was written to it
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._replay()
        self._fd = self._rewrite()

    # -- reads and writes -------------------------------------------------------------

    def get(self, table: str, key: Any, default: Any = None) -> Any:
        return self._tables.get(table, {}).get(key, default)

    def put(self, table: str, key: Any, value: Any) -> None:
        self._append([_PUT, table, key, value])  # first: a value msgpack refuses changes nothing
        self._tables.setdefault(table, {})[key] = value

    def delete(self, table: str, key: Any) -> None:
        if self._tables.get(table, {}).pop(key, _ABSENT) is not _ABSENT:
            self._append([_DELETE, table, key, None])

    def scan(self, table: str) -> Iterator[tuple[Any, Any]]:
        return iter(list(self._tables.get(table, {}).items()))

    def _append(self, record: list) -> None:
        self._buf += _record(record)
        self._appended += 1

    # -- durability -------------------------------------------------------------------

    async def sync(self) -> None:
        target = self._appended
        if self._durable >= target:
            return
        if self._failed is not None:
            raise self._failed
        fut = asyncio.get_running_loop().create_future()
        self._waiters.append((target, fut))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.ensure_future(self._flush_loop())
        await fut

    async def _flush_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiters:
            if self.sync_delay > 0:
                await asyncio.sleep(self.sync_delay)  # a slow disk: writers meanwhile join in
            inline = self._fsync_avg < self.INLINE_FSYNC
            if inline:
                await asyncio.sleep(0)  # let this loop iteration's writers join the group
            data, upto = bytes(self._buf), self._appended
            self._buf.clear()
            try:
                if inline:
                    took = self._write_and_fsync(data)
                else:
                    took = await self._on_thread(loop, data)
                self._fsync_avg = 0.8 * self._fsync_avg + 0.2 * took
            except OSError as e:
                self._failed = e
                waiters, self._waiters = self._waiters, []
                for _, fut in waiters:
                    if not fut.done():
                        fut.set_exception(e)
                return
            self._durable = upto
            self.syncs += 1
            still = []
            for target, fut in self._waiters:
                if target <= upto:
                    if not fut.done():
                        fut.set_result(None)
                else:
                    still.append((target, fut))
            self._waiters = still
            if self._size > max(self.compact_bytes, 2 * self._compacted_size) and not self._buf:
                os.close(self._fd)
                self._fd = self._rewrite()

    def _on_thread(self, loop: asyncio.AbstractEventLoop, data: bytes) -> asyncio.Future:
        """:meth:`_write_and_fsync` of ``data`` on this storage's own thread (started on first
        use): a future of the seconds it took, or of its OSError."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._thread_main, daemon=True,
                                            name=f"fsync {self.path}")
            self._thread.start()
        fut = loop.create_future()
        self._jobs.put((data, loop, fut))
        return fut

    def _thread_main(self) -> None:
        """The fsync thread: one job at a time, each outcome handed back to its loop. A job
        of None ends it."""
        while (job := self._jobs.get()) is not None:
            data, loop, fut = job
            outcome: float | OSError
            try:
                outcome = self._write_and_fsync(data)
            except OSError as e:
                outcome = e
            try:
                loop.call_soon_threadsafe(_settle, fut, outcome)
            except RuntimeError:  # the loop is closed: nobody waits any more
                pass

    def _write_and_fsync(self, data: bytes) -> float:
        """Append ``data`` and fdatasync; returns the seconds it took."""
        started = time.perf_counter()
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        os.fdatasync(self._fd)
        self._size += len(data)
        self._note_synced()
        return time.perf_counter() - started

    def _note_synced(self) -> None:
        """Record that the log's first ``_size`` bytes are durable (for :func:`drop_unsynced`):
        one write to the page cache, not synced."""
        os.pwrite(self._synced_fd, _SYNCED.pack(self._ino, self._size), 0)

    # -- recovery and compaction ------------------------------------------------------

    def _replay(self) -> None:
        if not self.path.exists():
            return
        with open(self.path, "rb") as f:
            magic = f.read(len(LOG_MAGIC))
            if magic and magic != LOG_MAGIC:
                raise CorruptLog(f"{self.path} does not start with the header of a splitbrain "
                                 f"log of this version, so this node cannot read it; move it "
                                 f"away to start the node empty")
            buf, offset = bytearray(), len(magic)  # offset: where buf starts in the file
            while chunk := f.read(1 << 20):
                buf += chunk
                pos = 0
                while end := _intact_at(buf, pos):
                    self._replay_record(buf, pos, end)
                    pos = end
                del buf[:pos]
                offset += pos
            if not buf:
                return
            if _any_intact_after(bytes(buf), 0):
                raise CorruptLog(f"{self.path} has a damaged record at byte {offset} followed "
                                 f"by intact ones, so the node stops rather than drop "
                                 f"acknowledged data; restore the file from a copy, or move it "
                                 f"away to start the node empty")
            log.warning("discarding a torn record at the end of %s (byte %d)", self.path, offset)

    def _replay_record(self, buf: bytearray, pos: int, end: int) -> None:
        op, table, key, value = msgpack.unpackb(buf[pos + _HEAD.size:end], raw=False,
                                                strict_map_key=False)
        key = _hashable(key)
        if op == _PUT:
            self._tables.setdefault(table, {})[key] = value
        else:
            self._tables.get(table, {}).pop(key, None)

    def _rewrite(self) -> int:
        """Write the live tables to a fresh log, fsync, and atomically replace the old one.
        Returns the new log's append descriptor."""
        tmp = self.dir / "log.tmp"
        with open(tmp, "wb") as f:
            f.write(LOG_MAGIC)
            for table, rows in self._tables.items():
                for key, value in rows.items():
                    f.write(_record([_PUT, table, key, value]))
            f.flush()
            os.fsync(f.fileno())
            self._compacted_size = f.tell()
        os.replace(tmp, self.path)
        dfd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        self._ino, self._size = os.fstat(fd).st_ino, self._compacted_size
        self._note_synced()
        return fd

    async def drain(self) -> None:
        """Wait until no write or fsync is in progress (a slow disk's runs on a thread), so
        that :meth:`close` never writes or closes the log under it."""
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)

    def close(self) -> None:
        """Write and fsync what is still buffered, then close the log. Call :meth:`drain`
        first from a running event loop."""
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join()
            self._thread = None
        if self._fd >= 0:
            if self._buf and self._failed is None:
                self._write_and_fsync(bytes(self._buf))
                self._buf.clear()
            os.close(self._fd)
            os.close(self._synced_fd)
            self._fd = -1
