"""nemesis: the faults a test injects (DESIGN.md, "The harness").

* :mod:`splitbrain.nemesis.faults`: one class per fault kind (``partition``, ``kill``,
  ``crash``, ``pause``, ``clock``, ``clock-rate``, ``latency``, ``one-way``, ``bridge``, and the targeted
  ``isolate-leader``, ``kill-owners``, ``flap-owners``, ``leader-latency``, ``leader-one-way``,
  ``leader-clock``, ``strand-follower``, ``reject-leader`` and ``lag-successor``), each with
  ``start(cluster, rng) -> op`` and ``stop(cluster) -> op``.
* :mod:`splitbrain.nemesis.topology`: partition topologies computed with networkx.
* :mod:`splitbrain.nemesis.schedule`: ``combined(kinds, interval)`` and ``heal_all(cluster)``.
"""

from splitbrain.nemesis.faults import (KINDS, Bridge, Clock, ClockRate, Crash, FlapOwners,
                                       IsolateLeader, Kill, KillOwners, LagSuccessor, Latency,
                                       LeaderClock,
                                       LeaderLatency, LeaderOneWay, Nemesis, OneWay, Partition,
                                       Pause, RejectLeader, StrandFollower)
from splitbrain.nemesis.schedule import Schedule, combined, heal_all, parse_kinds

__all__ = ["KINDS", "Bridge", "Clock", "ClockRate", "Crash", "FlapOwners", "IsolateLeader", "Kill",
           "KillOwners", "LagSuccessor", "Latency", "LeaderClock", "LeaderLatency", "LeaderOneWay",
           "Nemesis",
           "OneWay", "Partition", "Pause", "RejectLeader", "Schedule", "StrandFollower",
           "combined", "heal_all", "parse_kinds"]
