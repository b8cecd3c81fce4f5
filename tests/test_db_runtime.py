"""The real runtime's storage and transport (splitbrain/db/runtime.py)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time

import pytest

from splitbrain.db.config import local_config
from splitbrain.db.runtime import (LOG_MAGIC, CorruptLog, FileStorage, FrameDecoder, TcpTransport,
                                   _record, frame)


def test_group_commit_shares_one_fsync_among_waiting_writers(tmp_path):
    async def go():
        s = FileStorage(tmp_path)
        for i in range(50):
            s.put("t", i, {"v": i})
        await asyncio.gather(*(s.sync() for _ in range(50)))
        assert s.syncs == 1
        await s.sync()  # nothing new: no fsync
        assert s.syncs == 1
        s.close()

    asyncio.run(go())


def test_recovery_keeps_synced_changes_and_nothing_else(tmp_path):
    async def go():
        s = FileStorage(tmp_path)
        s.put("kv", "a", [1, {"x": [2]}])
        s.put("hints", ("n2", "a"), [3])
        s.put("kv", "gone", 0)
        s.delete("kv", "gone")
        await s.sync()
        s.put("kv", "unsynced", 1)  # a crash now loses it: never written to the file
        return s

    asyncio.run(go())
    again = FileStorage(tmp_path)
    assert again.get("kv", "a") == [1, {"x": [2]}]
    assert again.get("hints", ("n2", "a")) == [3]
    assert again.get("kv", "gone") is None and again.get("kv", "unsynced") is None
    again.close()


def test_a_sync_delay_holds_the_records_in_memory_and_writers_meanwhile_share_the_sync(
        tmp_path):
    async def go():
        s = FileStorage(tmp_path)
        s.sync_delay = 0.1
        s.put("kv", "a", 1)
        loop = asyncio.get_running_loop()
        began = loop.time()
        first = asyncio.ensure_future(s.sync())
        await asyncio.sleep(0.05)
        assert os.path.getsize(tmp_path / "log") == len(LOG_MAGIC)  # not written yet
        s.put("kv", "b", 2)
        await asyncio.gather(first, s.sync())
        assert loop.time() - began >= 0.1 and s.syncs == 1
        s.sync_delay = 0.0
        s.close()

    asyncio.run(go())
    again = FileStorage(tmp_path)
    assert again.get("kv", "a") == 1 and again.get("kv", "b") == 2
    again.close()


def test_a_torn_record_at_the_end_of_the_log_is_discarded(tmp_path):
    async def go():
        s = FileStorage(tmp_path)
        s.put("kv", "a", 1)
        await s.sync()
        s.close()

    asyncio.run(go())
    size = os.path.getsize(tmp_path / "log")
    record = _record([0, "kv", "b", 2])
    for torn in (record[:5], record[:-1]):  # cut short by a crash, in the header or the body
        with open(tmp_path / "log", "ab") as f:
            f.write(torn)
        s = FileStorage(tmp_path)
        assert list(s.scan("kv")) == [("a", 1)]
        assert os.path.getsize(tmp_path / "log") == size  # rewritten without the torn bytes
        s.close()


def test_frames_decode_across_arbitrary_chunking():
    data = b"".join(frame({"i": i, "pad": "x" * i}) for i in range(100))
    decoder, out = FrameDecoder(), []
    for start in range(0, len(data), 7):
        out += decoder.feed(data[start:start + 7])
    assert [m["i"] for m in out] == list(range(100))


def test_transport_delivers_in_order_and_redials_a_restarted_peer(tmp_path):
    async def go():
        cfg = local_config("dynamo", 2, tmp_path)
        got: list = []
        a, b = TcpTransport("n1", cfg), TcpTransport("n2", cfg)
        b.set_handler(lambda src, msg: got.append((src, msg["i"])))
        await a.start()
        await b.start()
        for i in range(100):
            a.send("n2", {"i": i})
        deadline = asyncio.get_running_loop().time() + 10
        while len(got) < 100 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        assert got == [("n1", i) for i in range(100)]
        await b.close()
        b = TcpTransport("n2", cfg)
        b.set_handler(lambda src, msg: got.append((src, msg["i"])))
        await b.start()
        for _ in range(300):  # sends are dropped until the link is redialled
            a.send("n2", {"i": -1})
            if got[-1] == ("n1", -1):
                break
            await asyncio.sleep(0.01)
        assert got[-1] == ("n1", -1)
        await a.close()
        await b.close()

    asyncio.run(go())


def test_a_message_sent_to_several_peers_is_encoded_once(tmp_path, monkeypatch):
    async def go():
        cfg = local_config("dynamo", 3, tmp_path)
        encoded: list = []
        monkeypatch.setattr("splitbrain.db.runtime.frame",
                            lambda obj: encoded.append(obj) or frame(obj))
        got: list = []
        nodes = [TcpTransport(n, cfg) for n in ("n1", "n2", "n3")]
        for t in nodes:
            t.set_handler(lambda src, msg, me=t.name: got.append((me, msg["i"])))
            await t.start()
        msg = {"i": 1}
        nodes[0].send("n2", msg)
        nodes[0].send("n3", msg)
        nodes[0].send("n3", {"i": 2})  # another message: encoded anew, never the last one's bytes
        deadline = asyncio.get_running_loop().time() + 10
        while len(got) < 3 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        assert sorted(got) == [("n2", 1), ("n3", 1), ("n3", 2)]
        assert [m for m in encoded if "i" in m] == [{"i": 1}, {"i": 2}]
        for t in nodes:
            await t.close()

    asyncio.run(go())


def test_a_peer_connection_that_does_not_say_hello_or_sends_garbage_is_closed(tmp_path):
    async def go():
        cfg = local_config("dynamo", 2, tmp_path)
        got: list = []
        b = TcpTransport("n2", cfg)
        b.set_handler(lambda src, msg: got.append((src, msg)))
        await b.start()
        port = cfg.node("n2").peer_port
        for first in (frame({"i": 1}), frame({"hello": "n1"}) + b"\x00\x00\x00\x02\xc1\xc1"):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(first)
            assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by n2
            writer.close()
        assert got == []
        # A well-behaved connection is served, and closing the transport closes it.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(frame({"hello": "n1"}) + frame({"i": 7}))
        deadline = asyncio.get_running_loop().time() + 5
        while not got and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        assert got == [("n1", {"i": 7})]
        await b.close()
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()

    asyncio.run(go())


def test_the_log_is_compacted_once_it_doubles(tmp_path):
    async def go():
        s = FileStorage(tmp_path, compact_bytes=1)
        for i in range(200):
            s.put("kv", "same", i)  # 200 records, one live row
            await s.sync()
        assert os.path.getsize(tmp_path / "log") < 100
        s.close()
        assert FileStorage(tmp_path).get("kv", "same") == 199

    asyncio.run(go())


def test_after_a_failed_fsync_no_later_sync_reports_anything_durable(tmp_path, monkeypatch):
    async def go():
        s = FileStorage(tmp_path)
        s.put("kv", "lost", 1)
        real = os.fdatasync

        def broken(fd):
            raise OSError(5, "Input/output error")

        monkeypatch.setattr(os, "fdatasync", broken)
        with pytest.raises(OSError):
            await s.sync()
        monkeypatch.setattr(os, "fdatasync", real)
        s.put("kv", "later", 2)
        with pytest.raises(OSError):  # success would count "lost" as durable
            await s.sync()
        s.close()

    asyncio.run(go())


def test_slow_fsyncs_share_one_thread_that_reports_a_failure_to_the_waiting_sync(tmp_path,
                                                                                 monkeypatch):
    async def go():
        s = FileStorage(tmp_path)
        s.INLINE_FSYNC = 0.0  # as on a slow disk: every write and fsync on the thread
        before = threading.active_count()
        for i in range(20):
            s.put("kv", i, i)
            await s.sync()
        assert s.syncs == 20 and threading.active_count() == before + 1

        def broken(fd):
            if threading.current_thread() is threading.main_thread():
                raise AssertionError("fsync ran on the event loop")
            raise OSError(5, "Input/output error")

        monkeypatch.setattr(os, "fdatasync", broken)
        s.put("kv", "lost", 1)
        with pytest.raises(OSError, match="Input/output"):
            await s.sync()
        s.close()
        assert threading.active_count() == before  # close ends the thread

    asyncio.run(go())
    again = FileStorage(tmp_path)
    assert again.get("kv", 19) == 19
    again.close()


def test_a_sync_on_the_fsync_thread_returns_only_after_its_fdatasync(tmp_path, monkeypatch):
    async def go():
        s = FileStorage(tmp_path)
        s.INLINE_FSYNC = 0.0
        real, entered, release = os.fdatasync, threading.Event(), threading.Event()

        def held(fd):
            entered.set()
            release.wait(10)
            real(fd)

        monkeypatch.setattr(os, "fdatasync", held)
        s.put("kv", "a", 1)
        pending = asyncio.ensure_future(s.sync())
        assert await asyncio.to_thread(entered.wait, 10), "fdatasync never ran"
        await asyncio.sleep(0.05)
        assert not pending.done()  # written, not yet durable: nothing may be acknowledged
        release.set()
        await asyncio.wait_for(pending, 10)
        s.close()

    asyncio.run(go())


def test_close_after_drain_loses_nothing_the_fsync_thread_was_writing(tmp_path, monkeypatch):
    async def go():
        s = FileStorage(tmp_path)
        s.INLINE_FSYNC = 0.0  # as on a slow disk: every write and fsync on a thread
        real = os.write
        writing = threading.Event()

        def slow_on_thread(fd, data):
            if threading.current_thread() is not threading.main_thread():
                writing.set()
                time.sleep(0.3)
            return real(fd, data)

        monkeypatch.setattr(os, "write", slow_on_thread)
        s.put("kv", "a", 1)
        pending = asyncio.ensure_future(s.sync())
        # the race needs the thread inside its write of "a": wait for it, never guess
        assert await asyncio.to_thread(writing.wait, 10), "the fsync thread never wrote"
        s.put("kv", "b", 2)
        await s.drain()
        s.close()  # writes "b" on this thread
        await asyncio.gather(pending, return_exceptions=True)

    asyncio.run(go())
    again = FileStorage(tmp_path)
    assert (again.get("kv", "a"), again.get("kv", "b")) == (1, 2)
    again.close()


def _log_of_three(tmp_path) -> list[int]:
    """A synced log holding a, b, c; returns each record's byte offset in the file."""
    async def go():
        s = FileStorage(tmp_path)
        for k, v in (("a", 1), ("b", 2), ("c", 3)):
            s.put("kv", k, v)
        await s.sync()
        s.close()

    asyncio.run(go())
    offsets, at = [], len(LOG_MAGIC)
    for k, v in (("a", 1), ("b", 2), ("c", 3)):
        offsets.append(at)
        at += len(_record([0, "kv", k, v]))
    assert at == os.path.getsize(tmp_path / "log")
    return offsets


def _flip_bit(path, offset: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([byte ^ 0x10]))


@pytest.mark.parametrize("where", ["body", "length"])
def test_a_flipped_bit_before_intact_records_stops_the_node_and_keeps_the_file(tmp_path, where):
    """A damaged record in the middle is not a torn tail: replaying up to it would silently
    drop it and every acknowledged record after it."""
    offsets = _log_of_three(tmp_path)
    damaged = offsets[1] + (len(_record([0, "kv", "b", 2])) - 1 if where == "body" else 2)
    _flip_bit(tmp_path / "log", damaged)
    before = (tmp_path / "log").read_bytes()
    with pytest.raises(CorruptLog) as e:
        FileStorage(tmp_path)
    assert str(e.value).startswith(f"{tmp_path / 'log'} has a damaged record at byte "
                                   f"{offsets[1]} followed by intact ones")
    assert (tmp_path / "log").read_bytes() == before, "the damaged log must be left as it was"


def test_a_damaged_last_record_is_a_torn_tail(tmp_path):
    offsets = _log_of_three(tmp_path)
    _flip_bit(tmp_path / "log", offsets[2] + 9)
    s = FileStorage(tmp_path)
    assert list(s.scan("kv")) == [("a", 1), ("b", 2)]
    s.close()


def test_a_log_without_the_header_is_refused(tmp_path):
    (tmp_path / "log").write_bytes(b"\x94\x00\xa2kv\xa1a\x01")  # the format before checksums
    with pytest.raises(CorruptLog, match="does not start with the header of a splitbrain log"):
        FileStorage(tmp_path)


@pytest.mark.integration
def test_a_node_with_a_corrupt_log_refuses_to_start_in_one_sentence(tmp_path):
    cfg = local_config("dynamodb", 3, tmp_path / "data")
    cfg.dump(tmp_path / "cluster.json")
    data_dir = tmp_path / "data" / "n1"
    offsets = _log_of_three(data_dir)
    _flip_bit(data_dir / "log", offsets[0] + 9)
    proc = subprocess.run([sys.executable, "-m", "splitbrain.cli", "node", "--config",
                           str(tmp_path / "cluster.json"), "--name", "n1"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 255, proc.stderr
    assert proc.stderr == (f"splitbrain: node n1 will not start: {data_dir / 'log'} has a damaged "
                           f"record at byte {offsets[0]} followed by intact ones, so the node "
                           f"stops rather than drop acknowledged data; restore the file from a "
                           f"copy, or move it away to start the node empty\n")
