"""Probabilistically Bounded Staleness (Bailis et al., "Probabilistically Bounded Staleness for
Practical Partial Quorums", VLDB 2012): what a quorum system with N replicas, reads of R and
writes acknowledged by W should show, to put beside what a run measured.

* :func:`k_staleness`: the paper's closed form (section 3): when each write reaches only its W
  replicas, a read of R replicas misses the newest of k versions with probability
  ``(C(N-W, R) / C(N, R)) ** k``. It ignores propagation after the write returns, so it is an
  upper bound on staleness.
* :func:`t_visibility`: the paper's WARS model (section 4) by Monte Carlo: per replica a write
  message (W), an ack (A), a read request (R) and a response (S) latency; the write commits at
  the W-th fastest ack, a read starts t later, and it is consistent when one of the first R
  responders had received the write before the read request reached it.
"""

from __future__ import annotations

import random
from math import comb


def k_staleness(n: int, r: int, w: int, kmax: int) -> list[float]:
    """``p[j]`` for ``j = 0..kmax``: the predicted probability that a read is at least ``j``
    versions stale (``p[0] == 1``)."""
    miss = comb(n - w, r) / comb(n, r) if r <= n else 0.0
    return [miss ** j for j in range(kmax + 1)]


def t_visibility(n: int, r: int, w: int, one_way_ns: list[float], ts_ns: list[float], *,
                 trials: int = 4000, seed: int = 0) -> list[float]:
    """For each ``t`` in ``ts_ns``, the predicted probability that a read starting ``t`` after a
    write commits sees it. Every message latency is drawn from ``one_way_ns`` (an empirical
    distribution); ``trials`` simulated writes per ``t``, seeded for repeatability."""
    rng = random.Random(seed)
    draw = rng.choice
    out = []
    for t in ts_ns:
        fresh_reads = 0
        for _ in range(trials):
            wl = [draw(one_way_ns) for _ in range(n)]
            commit = sorted(x + draw(one_way_ns) for x in wl)[w - 1]
            reqs = [draw(one_way_ns) for _ in range(n)]
            order = sorted(range(n), key=lambda i: reqs[i] + draw(one_way_ns))
            if any(wl[i] <= commit + t + reqs[i] for i in order[:r]):
                fresh_reads += 1
        out.append(fresh_reads / trials)
    return out
