"""The loopback network (benchmarks' like-for-like network with etcd): nodes reach each other
directly, nothing can be cut or delayed, and asking to is refused in one sentence."""

from __future__ import annotations

import asyncio

import pytest

from splitbrain.db.client import NodeClient
from splitbrain.errors import BadInput
from splitbrain.harness.cluster import local_cluster
from splitbrain.harness.loopback import LoopbackNet


def test_refuses_cuts_and_delays_and_heals_as_a_no_op():
    async def scenario():
        net = LoopbackNet()
        await net.cut([])  # nothing to cut: nothing to refuse
        await net.delay([("n1", "n2")], 0)
        with pytest.raises(BadInput, match="loopback network cannot cut links.*--net proxy"):
            await net.cut([("n1", "n2")])
        with pytest.raises(BadInput, match="cannot delay links"):
            await net.delay([("n1", "n2")], 0.1)
        await net.heal()
        await net.close()
        assert net.cuts == frozenset()

    asyncio.run(scenario())


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_dynamodb_nodes_replicate_over_direct_links(tmp_path):
    async def scenario():
        async with local_cluster("dynamodb", 3, tmp_path / "c", net=LoopbackNet(),
                                 partitions=2) as cluster:
            config = cluster.config
            assert config.peer_routes == {}  # every node dials the others' own peer ports
            assert cluster.net.kind == "loopback"
            async with NodeClient(cluster.client_url("n1"), timeout=5.0) as client:
                for _ in range(100):  # the partitions elect their first leaders
                    reply = await client.put("k", 1)
                    if reply.type == "ok":
                        break
                    await asyncio.sleep(0.1)
                assert reply.type == "ok", reply
            async with NodeClient(cluster.client_url("n3"), timeout=5.0) as client:
                reply = await client.get("k", consistency="strong")
            assert reply.type == "ok" and reply.value == [1], reply

    asyncio.run(scenario())
