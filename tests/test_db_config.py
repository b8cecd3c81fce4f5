"""The cluster config: every unusable field is one sentence naming the field."""

import json
import subprocess
import sys

import pytest

from splitbrain.db.config import (ClusterConfig, ConfigError, _ephemeral_range, free_ports,
                                  local_config)


def good() -> dict:
    return local_config("dynamo", 3, "/tmp/splitbrain-config-test").to_dict()


def with_node(**changes) -> dict:
    d = good()
    d["nodes"][0].update(changes)
    return d


@pytest.mark.parametrize("config, names", [
    ({**good(), "mode": "raft"}, "mode 'raft'"),
    ({**good(), "nodes": []}, "non-empty list 'nodes'"),
    ({**good(), "colour": "blue"}, "unknown field(s) colour"),
    ({**good(), "n": 0}, "n must be a positive integer"),
    ({**good(), "n": 4}, "n=4 exceeds the 3 nodes"),
    ({**good(), "r": 3, "n": 2}, "must not exceed n=2"),
    (with_node(client_port="7001"), "nodes[0].client_port must be a port number"),
    (with_node(peer_port=70000), "nodes[0].peer_port must be a port number"),
    (with_node(host=None), "nodes[0].host must be a string"),
    (with_node(colour="blue"), "nodes[0] must be an object with 'name'"),
])
def test_unusable_configs_name_the_field(config, names):
    with pytest.raises(ConfigError) as e:
        ClusterConfig.from_dict(config, source="c.json")
    assert names in str(e.value) and str(e.value).startswith("c.json")


def test_local_config_round_trips_and_routes_peers_through_overrides(tmp_path):
    cfg = local_config("lww", 3, tmp_path, peer_routes={"n1": {"n2": "127.0.0.1:9"}})
    cfg.dump(tmp_path / "c.json")
    again = ClusterConfig.load(tmp_path / "c.json")
    assert again == cfg
    assert again.peer_route("n1", "n2") == "127.0.0.1:9"
    assert again.peer_route("n2", "n1") == cfg.node("n1").peer_address
    ports = free_ports(20)
    assert len(set(ports)) == 20
    # as its docstring promises: below the range the kernel hands out for outgoing connections
    assert max(ports) < _ephemeral_range()[0]


@pytest.mark.integration
def test_a_node_with_a_mistyped_config_exits_255_with_one_sentence(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps(with_node(client_port="7001")))
    run = subprocess.run([sys.executable, "-m", "splitbrain.cli", "node", "--config", str(path),
                          "--name", "n1"], capture_output=True, text=True, timeout=30)
    assert run.returncode == 255
    assert "nodes[0].client_port must be a port number" in run.stderr
    assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1
