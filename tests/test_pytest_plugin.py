"""The pytest plugin (splitbrain/pytest_plugin.py), run in pytester sessions: history_recorder
with assert_linearizable over Hypothesis-generated schedules, the marker's validation, and the
splitbrain_cluster fixture (integration: starts nodes, and they are gone afterwards)."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlparse

import pytest

from splitbrain.db.config import MODES
from splitbrain.pytest_plugin import MODES as PLUGIN_MODES

pytest_plugins = "pytester"

SCHEDULES = '''
import asyncio

from hypothesis import given, settings, strategies as st

from splitbrain import HistoryRecorder, assert_linearizable


class Replicated:
    """A register on two replicas: a write sets the primary, yields, then sets the backup;
    a read asks either replica. With a lock around writes and reads it is linearizable."""

    def __init__(self, locked):
        self.values = [0, 0]
        self.lock = asyncio.Lock() if locked else None

    async def write(self, v):
        self.values[0] = v
        await asyncio.sleep(0)
        self.values[1] = v

    async def read(self, replica):
        return self.values[replica]

    async def run(self, f, arg):
        if self.lock is None:
            return await getattr(self, f)(arg)
        async with self.lock:
            return await getattr(self, f)(arg)


op = st.one_of(st.tuples(st.just("write"), st.integers(1, 9)),
               st.tuples(st.just("read"), st.integers(0, 1)))
schedules = st.lists(st.lists(op, min_size=1, max_size=4), min_size=2, max_size=3)


def run(recorder, store, scripts):
    async def client(c, script):
        for f, arg in script:
            async with recorder.op(c, f, arg if f == "write" else None) as o:
                result = await store.run(f, arg)
                o.ok(result)

    async def main():
        await asyncio.gather(*(client(c, s) for c, s in enumerate(scripts)))

    asyncio.run(main())


# A fixture lives as long as the test function, across Hypothesis examples: each example
# records into a recorder of its own.
@settings(max_examples=200, deadline=None, database=None)
@given(scripts=schedules, locked=st.booleans())
def test_replicated_register(scripts, locked):
    recorder = HistoryRecorder()
    run(recorder, Replicated(locked=locked), scripts)
    assert_linearizable(recorder.history(), "register", initial=0)


def test_one_schedule(history_recorder):
    run(history_recorder, Replicated(locked=True), [[("write", 1), ("read", 1)], [("read", 0)]])
    assert_linearizable(history_recorder.history(), "register", initial=0)
'''


def test_plugin_modes_are_the_nodes_modes():
    assert PLUGIN_MODES == MODES


@pytest.mark.integration
def test_recorder_and_assert_linearizable_under_hypothesis(pytester: pytest.Pytester):
    pytester.makepyfile(test_schedules=SCHEDULES)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=240)
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    assert "NotLinearizable: history: NOT linearizable" in out
    # The shrunk counterexample: a read saw the new value on the primary, a later read the
    # old one on the backup, both while the write was still running.
    assert "cannot be linearized" in out and "failing window: ops" in out
    assert "locked=False" in out
    assert "splitbrain/api.py" not in out  # the failure points at the test's own line


@pytest.mark.integration
def test_the_cluster_marker_is_validated(pytester: pytest.Pytester):
    pytester.makepyfile(test_bad='''
import pytest

@pytest.mark.splitbrain_cluster(mode="mongodb")
def test_it(splitbrain_cluster):
    pass
''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=60)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*@pytest.mark.splitbrain_cluster(mode='mongodb', nodes=3) is "
                                 "not a cluster; mode is one of dynamo, lww, dynamodb*"])


CLUSTER_TEST = '''
import asyncio
import json

import aiohttp
import pytest

from splitbrain import assert_linearizable


async def put(session, url, value):
    async with session.put(f"{url}/kv/k", json={"value": value}) as r:
        body = await r.json()
        return r.status == 200, body


async def get(session, url):
    async with session.get(f"{url}/kv/k", params={"consistency": "strong"}) as r:
        body = await r.json()
        return r.status == 200, body


@pytest.mark.splitbrain_cluster(mode="dynamodb", nodes=3)
def test_strong_reads_and_writes(splitbrain_cluster, history_recorder, tmp_path_factory):
    with open("urls.json", "w") as f:
        json.dump(splitbrain_cluster.urls, f)
    urls = list(splitbrain_cluster.urls.values())

    async def client(c, session):
        url = urls[c % len(urls)]
        for i in range(6):
            if (c + i) % 2:
                async with history_recorder.op(c, "write", c * 10 + i) as op:
                    ok, body = await put(session, url, c * 10 + i)
                    if not ok:
                        if not body.get("definite"):
                            raise RuntimeError(body["error"])
                        op.fail(body["error"])
            else:
                async with history_recorder.op(c, "read") as op:
                    ok, body = await get(session, url)
                    if not ok:
                        if not body.get("definite"):
                            raise RuntimeError(body["error"])
                        op.fail(body["error"])
                    else:
                        op.ok(body["values"][0] if body["values"] else None)

    async def main():
        timeout = aiohttp.ClientTimeout(total=5)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            await asyncio.gather(*(client(c, session) for c in range(4)),
                                 return_exceptions=True)

    asyncio.run(main())
    history = history_recorder.history()
    assert sum(op.type == "ok" for op in history.ops()) >= 12
    assert_linearizable(history, "register")
'''


@pytest.mark.integration
def test_the_cluster_fixture_starts_nodes_and_stops_them(pytester: pytest.Pytester):
    pytester.makepyfile(test_cluster=CLUSTER_TEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=240)
    result.assert_outcomes(passed=1)
    urls = json.loads((pytester.path / "urls.json").read_text())
    assert sorted(urls) == ["n1", "n2", "n3"]
    for url in urls.values():
        u = urlparse(url)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((u.hostname, u.port), timeout=2).close()
