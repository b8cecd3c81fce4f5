"""nemesis: the faults a test injects (DESIGN.md, "The harness").

* :mod:`splitbrain.nemesis.faults`: one class per fault kind (``partition``, ``kill``,
  ``pause``, ``clock``, ``clock-rate``, ``latency``, and the targeted ``isolate-leader`` and
  ``kill-owners``), each with ``start(cluster, rng) -> op`` and ``stop(cluster) -> op``.
* :mod:`splitbrain.nemesis.topology`: partition topologies computed with networkx.
* :mod:`splitbrain.nemesis.schedule`: ``combined(kinds, interval)`` and ``heal_all(cluster)``.
"""

from splitbrain.nemesis.faults import (KINDS, Clock, ClockRate, IsolateLeader, Kill, KillOwners,
                                       Latency, Nemesis, Partition, Pause)
from splitbrain.nemesis.schedule import Schedule, combined, heal_all, parse_kinds

__all__ = ["KINDS", "Clock", "ClockRate", "IsolateLeader", "Kill", "KillOwners", "Latency",
           "Nemesis", "Partition", "Pause", "Schedule", "combined", "heal_all", "parse_kinds"]
