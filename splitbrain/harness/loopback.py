"""The ``loopback`` network: nodes dial each other's peer ports on 127.0.0.1 directly, with
nothing in between, so no fault can be injected. It exists to measure the node's own speed
(``benchmarks/node.py``) the way an etcd cluster on loopback is measured; a test that needs
faults uses ``proxy`` or ``netns`` (:mod:`splitbrain.harness.networks`), which is why it is not
one of the tester's ``--net`` choices.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from splitbrain.db.config import ClusterConfig
from splitbrain.errors import BadInput
from splitbrain.harness.net import Link, LocalNet


class LoopbackNet(LocalNet):
    """Direct loopback links. Cutting or delaying a link is refused in one sentence; healing,
    with nothing ever cut, does nothing."""

    kind = "loopback"

    async def open(self, config: ClusterConfig, root: Path, *, detached: bool) -> ClusterConfig:
        return config

    async def cut(self, links: Iterable[Link]) -> None:
        if frozenset(links):
            raise self._refuse("cut")

    async def delay(self, links: Iterable[Link], seconds: float) -> None:
        if frozenset(links) and seconds:
            raise self._refuse("delay")

    async def heal(self) -> None:
        return None

    def close_sync(self) -> None:
        return None

    def _refuse(self, what: str) -> BadInput:
        return BadInput(f"the loopback network cannot {what} links (it has nothing between the "
                        f"nodes); use --net proxy or --net netns for faults")
