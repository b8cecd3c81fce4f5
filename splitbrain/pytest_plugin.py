"""splitbrain's pytest plugin (entry point ``pytest11``), loaded in every pytest session of a
Python where splitbrain is installed.

Fixtures:

* ``history_recorder``: a fresh :class:`~splitbrain.recorder.HistoryRecorder` for the test's
  own concurrent operations (threads or asyncio tasks);
* ``splitbrain_cluster``: a local cluster of splitbrain nodes started for the test (it returns
  once every node answers a strong read) and stopped after it, even when the test fails, as a :class:`LocalClusterInfo` (its nodes' URLs). Mode
  and size come from ``@pytest.mark.splitbrain_cluster(mode=..., nodes=...)``, else from
  ``--splitbrain-mode`` (default dynamodb) and ``--splitbrain-nodes`` (default 3).

Check what was recorded with :func:`splitbrain.assert_linearizable`, whose failure message is
the checker's explanation. Loading this plugin imports neither the checkers nor the harness.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from splitbrain.db.config import MODES  # standard library only: cheap to load
from splitbrain.recorder import HistoryRecorder

MARKER = "splitbrain_cluster"


@dataclass(frozen=True)
class LocalClusterInfo:
    """A running local cluster: its ``mode``, node ``names``, each node's client ``urls``
    (docs/node-api.md), its ``root`` folder and each node's ``logs``."""

    mode: str
    names: list[str]
    urls: dict[str, str]
    root: Path
    logs: dict[str, Path]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("splitbrain")
    group.addoption("--splitbrain-mode", choices=MODES, default="dynamodb",
                    help="Mode of the splitbrain_cluster fixture's nodes (default dynamodb).")
    group.addoption("--splitbrain-nodes", type=int, default=3,
                    help="Nodes in the splitbrain_cluster fixture (default 3).")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}(mode=None, nodes=None): the mode and size of "
                                       f"the splitbrain_cluster fixture for this test")


@pytest.fixture
def history_recorder() -> HistoryRecorder:
    """A fresh HistoryRecorder: ``with history_recorder.op(client, f, input) as op: ...``."""
    return HistoryRecorder()


#: Seconds a started cluster gets to answer a strong read on every node (dynamodb elects its
#: partitions' leaders after the nodes are up).
SERVING_TIMEOUT = 30.0
PROBE_KEY = "splitbrain-pytest-probe"


async def _serving(urls: list[str]) -> None:
    """Return once every node answers a strong read (of a key nobody writes) and, in dynamodb
    mode, knows a leader for every partition it holds (a read reaches only its key's partition;
    the others may still be electing), or raise TesterFailure naming the nodes that never
    did."""
    from splitbrain.db.client import OK, NodeClient
    from splitbrain.errors import TesterFailure

    loop = asyncio.get_running_loop()
    deadline = loop.time() + SERVING_TIMEOUT
    waiting = list(urls)
    while waiting and loop.time() < deadline:
        for url in list(waiting):
            async with NodeClient(url) as client:
                if (await client.get(PROBE_KEY, "strong")).type != OK:
                    continue
                status = await client.status()
                parts = (status.value or {}).get("partitions") or {} if status.type == OK else None
                if parts is not None and all(p.get("leader") for p in parts.values()):
                    waiting.remove(url)
        if waiting:
            await asyncio.sleep(0.2)
    if waiting:
        raise TesterFailure(f"the nodes at {', '.join(waiting)} did not answer a strong read "
                            f"with a leader for every partition within {SERVING_TIMEOUT:g} s "
                            f"of starting; see their logs")


@pytest.fixture
def splitbrain_cluster(request: pytest.FixtureRequest,
                       tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalClusterInfo]:
    """A local cluster for this test, stopped afterwards (see the module docstring)."""
    from splitbrain.errors import BadInput
    from splitbrain.harness.cluster import local_cluster

    marker = request.node.get_closest_marker(MARKER)
    options = dict(marker.kwargs) if marker is not None else {}
    mode = options.pop("mode", None) or request.config.getoption("splitbrain_mode")
    nodes = options.pop("nodes", None) or request.config.getoption("splitbrain_nodes")
    if options or mode not in MODES or not isinstance(nodes, int) or nodes < 1:
        raise BadInput(f"@pytest.mark.{MARKER}(mode={mode!r}, nodes={nodes!r}"
                       f"{', ' if options else ''}{', '.join(options)}) is not a cluster; "
                       f"mode is one of {', '.join(MODES)}, nodes at least 1, nothing else")
    cluster = local_cluster(mode, nodes, tmp_path_factory.mktemp(f"splitbrain-{mode}"))
    try:
        asyncio.run(cluster.start())
        asyncio.run(_serving([cluster.client_url(n) for n in cluster.names]))
        yield LocalClusterInfo(mode, list(cluster.names),
                               {n: cluster.client_url(n) for n in cluster.names}, cluster.root,
                               {n: cluster.log_path(n) for n in cluster.names})
    finally:
        asyncio.run(cluster.stop())
