"""The lost-unsynced-writes crash (Jepsen's lazyfs) on a node's FileStorage: what a sync had
written to the OS but not made durable survives a process kill and is gone after
:func:`drop_unsynced`; what was synced stays."""

from __future__ import annotations

import asyncio
import os
import shutil

import pytest

from splitbrain.db.runtime import FileStorage, drop_unsynced


def test_a_crash_drops_written_but_unsynced_bytes_and_keeps_synced_ones(tmp_path, monkeypatch):
    data = tmp_path / "n1"

    async def dies_between_write_and_fsync() -> None:
        s = FileStorage(data)
        s.put("t", "synced", 1)
        await s.sync()

        def killed(fd: int) -> None:
            raise OSError("the process died before its fsync returned")

        monkeypatch.setattr(os, "fdatasync", killed)
        s.put("t", "written", 2)
        with pytest.raises(OSError):
            await s.sync()  # the record reached the OS, never the disk
        monkeypatch.undo()
        os.close(s._fd)  # the process is gone: nothing else runs
        os.close(s._synced_fd)

    asyncio.run(dies_between_write_and_fsync())
    shutil.copytree(data, tmp_path / "killed")
    killed = FileStorage(tmp_path / "killed")  # a process kill keeps the page cache
    assert (killed.get("t", "synced"), killed.get("t", "written")) == (1, 2)
    killed.close()

    assert drop_unsynced(data) > 0
    crashed = FileStorage(data)
    assert (crashed.get("t", "synced"), crashed.get("t", "written")) == (1, None)
    crashed.close()
    assert drop_unsynced(data) == 0  # reopened: everything left is synced


def test_drop_unsynced_leaves_a_log_it_has_no_record_for(tmp_path):
    (tmp_path / "log").write_bytes(b"anything")
    assert drop_unsynced(tmp_path) == 0 and (tmp_path / "log").read_bytes() == b"anything"
