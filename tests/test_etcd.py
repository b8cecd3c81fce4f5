"""etcd as a system under test: the client's classification against a fake gateway, the member
command, bad input, and (root, etcd installed) short real runs with partitions and kills, plus a
stale serializable read driven at a partitioned member, which --expect linearizable must fail."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp import web
from system_packages import need

from splitbrain.etcd.client import EtcdClient, b64
from splitbrain.etcd.nodes import EtcdNodes, find_etcd
from splitbrain.errors import BadInput
from splitbrain.harness.interfaces import Placement
from splitbrain.history import Event, History, validate


def serve(routes: dict[str, object]):
    """A fake etcd gateway on 127.0.0.1: ``routes[path]`` is (status, JSON body) or
    ``"hang"``."""

    async def handler(request: web.Request) -> web.StreamResponse:
        answer = routes[request.path]
        if answer == "hang":
            await asyncio.sleep(5)
        status, body = answer  # type: ignore[misc]
        return web.json_response(body, status=status)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    return app


async def with_gateway(routes, scenario):
    runner = web.AppRunner(serve(routes))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with EtcdClient(f"http://127.0.0.1:{port}", timeout=0.3) as client:
            return await scenario(client)
    finally:
        await runner.cleanup()


def test_client_classifies_as_jepsen_does():
    routes = {"/v3/kv/put": (200, {"header": {"revision": "7"}}),
              "/v3/kv/range": (200, {"kvs": [{"key": b64("k"), "value": b64("5"),
                                              "mod_revision": "7"},
                                             {"key": b64("s/1"), "value": b64("1")}]}),
              "/v3/kv/txn": (200, {"header": {"revision": "8"}})}

    async def scenario(c: EtcdClient):
        put = await c.put("k", 5)
        read = await c.get("k")
        cas = await c.put("k", 6, condition={"equals": 4})
        return put, read, cas

    put, read, cas = asyncio.run(with_gateway(routes, scenario))
    assert (put.type, put.value, put.meta) == ("ok", 5, {"version": 7})
    assert (read.type, read.value, read.meta) == ("ok", [5], {"version": 7})
    assert (cas.type, cas.error) == ("fail", "condition-failed")  # succeeded absent = false


def test_client_errors_are_indefinite_for_writes_and_failures_for_reads():
    error = (503, {"error": "etcdserver: request timed out", "code": 14})
    routes = {"/v3/kv/put": error, "/v3/kv/range": error, "/v3/kv/txn": "hang"}

    async def scenario(c: EtcdClient):
        return await c.put("k", 1), await c.get("k"), await c.put("k", 2, condition={
            "equals": 1})

    put, read, cas = asyncio.run(with_gateway(routes, scenario))
    assert (put.type, put.error) == ("info", "request-timed-out")
    assert (read.type, read.error) == ("fail", "request-timed-out")
    assert (cas.type, cas.error) == ("info", "client-timeout")

    async def refused():
        async with EtcdClient("http://127.0.0.1:9", timeout=0.5) as c:
            return await c.put("k", 1)

    assert asyncio.run(refused()).type == "fail"  # nothing was sent


def test_set_elements_read_in_one_range():
    routes = {"/v3/kv/range": (200, {"kvs": [{"key": b64("s/3"), "value": b64("1")},
                                             {"key": b64("s/1"), "value": b64("1")}]})}
    read = asyncio.run(with_gateway(routes, lambda c: c.get("s")))
    assert read.value == [[1, 3]]


def test_member_command_names_every_peer_once():
    nodes = EtcdNodes("/usr/bin/etcd")
    nodes.setup([Placement(f"n{i}", f"n{i}", f"10.213.9.{i}", f"/d/n{i}", 2379, 2380)
                 for i in (1, 2, 3)])
    argv = nodes.command("n2", sys.executable)
    assert argv[:3] == ["/usr/bin/etcd", "--name", "n2"]
    cluster = argv[argv.index("--initial-cluster") + 1]
    assert cluster == ("n1=http://10.213.9.1:2380,n2=http://10.213.9.2:2380,"
                       "n3=http://10.213.9.3:2380")
    assert argv[argv.index("--data-dir") + 1] == "/d/n2/data"
    assert nodes.client_url("n3") == "http://10.213.9.3:2379"
    assert nodes.describe()["replication"] == 3
    with pytest.raises(ValueError, match=r"no etcd member named 'n4'; the cluster has n1, n2, n3"):
        nodes.client_url("n4")


def test_missing_etcd_says_how_to_install_it(tmp_path):
    with pytest.raises(BadInput, match=r"apt-get install etcd-server"):
        find_etcd(str(tmp_path / "no-etcd"))


def run_cli(*args: str, tmp_path: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "SPLITBRAIN_REGISTRY": str(tmp_path / "registry")}
    return subprocess.run([sys.executable, "-m", "splitbrain.cli", "test", "--db", "etcd",
                           "--store", str(tmp_path / "store"), *args], capture_output=True,
                          text=True, env=env, timeout=timeout)


@pytest.mark.integration
@pytest.mark.parametrize("args, fragment", [
    (["--net", "proxy"], "cannot run on --net proxy"),
    (["--net", "netns", "--nemesis", "clock"], "the clock nemesis cannot skew etcd"),
    (["--net", "netns", "--workload", "counter"], "runs the register and set workloads"),
    (["--net", "netns", "--etcd-reads", "stale"], "--etcd-reads 'stale' is not etcd's"),
    (["--net", "netns", "--mode", "lww"], "--mode lww is a mode of splitbrain's own node"),
    (["--net", "netns", "--etcd-bin", "/nonexistent/etcd"], "apt-get install etcd-server"),
])
def test_etcd_bad_input_is_one_sentence(tmp_path, args, fragment):
    p = run_cli(*args, tmp_path=tmp_path, timeout=60)
    assert p.returncode == 254, p.stderr
    assert fragment in p.stderr and "Traceback" not in p.stderr


def need_etcd_and_netns() -> str:
    from splitbrain.harness import netns

    reason = netns.unavailable_reason()
    if reason:
        pytest.skip(f"etcd runs need network namespaces: {reason}")
    return need("etcd")


def history_events(run_dir: Path) -> History:
    from splitbrain.harness.store import load_history

    return load_history(run_dir)


@pytest.mark.integration
@pytest.mark.parametrize("workload", ["register", "set"])
def test_etcd_run_with_partitions_and_kills(tmp_path, workload):
    need_etcd_and_netns()
    p = run_cli("--net", "netns", "--workload", workload, "--nodes", "3", "--time-limit", "10",
                "--nemesis", "partition,kill", "--nemesis-interval", "2", "--recovery", "3",
                "--seed", "5", tmp_path=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr  # etcd 3.4 keeps its promises here
    assert f"etcd-{workload}-partition+kill" in p.stdout and "firewall network" in p.stdout
    run_dir = Path(next(line for line in p.stdout.splitlines()
                        if line.startswith("run: ")).split(": ", 1)[1])
    history = history_events(run_dir)
    faults = {op.f for op in history.nemesis_ops()}
    assert {"start-partition", "kill"} <= faults and "heal" in faults
    ops = history.ops()
    assert sum(op.ok for op in ops if op.f != "read") > 50
    assert (run_dir / "nodes" / "n1.log").stat().st_size > 0  # etcd's own log, collected
    assert (run_dir / "report.html").is_file()
    # the namespaces are gone: nothing registered is left
    assert not list((tmp_path / "registry").glob("*.json"))


@pytest.mark.integration
def test_serializable_read_at_a_partitioned_member_fails_expect_linearizable(tmp_path):
    """A scripted history against a real 3-member etcd: write 1, cut n1 off, write 2 through
    the majority, read serializably at n1 (it still has 1). Permitted by the promises (an
    eventual read may be stale); --expect linearizable fails it, naming the stale read."""
    etcd = need_etcd_and_netns()
    from splitbrain.harness.etcdcluster import local_etcd_cluster
    from splitbrain.harness.runner import check
    from splitbrain.workloads import make

    events: list[Event] = []
    clock = iter(range(0, 10**12, 10**6))

    def record(type_: str, process: int, f: str, value, node: str, **kw) -> None:
        events.append(Event(type_, process, f, value, next(clock), key="r0", node=node, **kw))

    async def scenario() -> str:
        async with local_etcd_cluster(3, tmp_path / "cluster", etcd) as cluster:
            clients = {n: EtcdClient(cluster.client_url(n), timeout=2.0) for n in cluster.names}
            try:
                for _ in range(100):
                    if (await clients["n2"].health()).type == "ok":
                        break
                    await asyncio.sleep(0.1)
                record("invoke", 0, "write", 1, "n2")
                r = await clients["n2"].put("r0", 1)
                assert r.type == "ok"
                record("ok", 0, "write", 1, "n2", meta=r.meta)
                # n1 must have applied write 1 before the cut: a serializable read there says so
                for _ in range(50):
                    if (await clients["n1"].get("r0", "eventual")).value == [1]:
                        break
                    await asyncio.sleep(0.05)
                await cluster.net.cut([(a, b) for a in ("n1",) for b in ("n2", "n3")]
                                      + [(b, "n1") for b in ("n2", "n3")])
                # Until the majority has a leader without n1, a write may hang (indefinite:
                # it may still commit); each attempt writes a fresh value, as Jepsen's do.
                acked = None
                for value in range(2, 40):
                    process = value  # a process whose op ended in info never invokes again
                    record("invoke", process, "write", value, "n2")
                    r = await clients["n2"].put("r0", value)
                    record(r.type, process, "write", value if r.type == "ok" else None, "n2",
                           error=r.error, meta=r.meta or None)
                    if r.type == "ok":
                        acked = value
                        break
                    await asyncio.sleep(0.1)
                assert acked is not None, "the majority never acknowledged a write"
                record("invoke", 100, "read", None, "n1", consistency="eventual")
                r = await clients["n1"].get("r0", "eventual")
                record("ok", 100, "read", r.value[0] if r.value else None, "n1",
                       consistency="eventual", meta=r.meta)
                await cluster.net.heal()
                for _ in range(100):  # n1 catches up with the majority's log
                    if (await clients["n1"].get("r0", "eventual")).value == [acked]:
                        break
                    await asyncio.sleep(0.1)
                for i, node in enumerate(cluster.names):  # final reads, as the run loop's
                    record("invoke", 200 + i, "read", None, node, consistency="eventual",
                           meta={"final": True})
                    r = await clients[node].get("r0", "eventual")
                    record(r.type, 200 + i, "read", r.value[0] if r.value else None, node,
                           consistency="eventual", meta={**r.meta, "final": True})
                return "done"
            finally:
                for c in clients.values():
                    await c.close()

    assert asyncio.run(scenario()) == "done"
    history = History(validate(events))  # validated, with dense indices
    read = [op for op in history.ops() if op.f == "read"][0]
    assert read.output == 1  # the partitioned member served its stale state
    workload = make("register", "dynamodb", reads=("eventual",))
    permitted = check(history, workload)
    assert permitted.valid is True, permitted.reason
    assert permitted.stats["permitted"].get("stale-read") == 1
    expected = check(history, workload, expect=("linearizable",))
    assert expected.valid is False
    assert "--expect linearizable" in expected.reason
