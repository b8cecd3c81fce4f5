"""The simulated network's connection reset (sim/network.py, rule 7): a reset loses what is
in flight on the link, not what was sent after it nor other links' messages; a reject cut
also loses what is sent while it lasts; the heal lets messages through again."""

from __future__ import annotations

import asyncio
import random

from splitbrain.harness.interfaces import LinkResets
from splitbrain.sim import loop
from splitbrain.sim.network import LinkParams, SimNetwork

NAMES = ["n1", "n2", "n3"]


def test_a_reset_loses_what_is_in_flight_and_a_reject_cut_what_is_sent_during_it():
    async def go():
        params = {(a, b): LinkParams(latency=0.5, jitter=0.0) for a in NAMES for b in NAMES
                  if a != b}
        net = SimNetwork(NAMES, random.Random(7), params)
        assert isinstance(net, LinkResets)
        inbox: dict[str, list] = {n: [] for n in NAMES}
        for n in NAMES:
            ep = net.endpoint(n)
            ep.set_handler(lambda src, msg, n=n: inbox[n].append((src, msg["i"])))
            await ep.start()
        net.endpoint("n1").send("n2", {"i": 1})  # in flight at the reset: lost
        net.endpoint("n1").send("n3", {"i": 2})  # another link: arrives
        net.endpoint("n2").send("n1", {"i": 3})  # the reverse link: arrives
        await asyncio.sleep(0.1)
        await net.reset([("n1", "n2")])
        net.endpoint("n1").send("n2", {"i": 4})  # sent after the reset: arrives
        await asyncio.sleep(1)
        net.endpoint("n1").send("n2", {"i": 5})  # in flight at the reject cut: lost
        await asyncio.sleep(0.1)
        await net.reject([("n1", "n2")])
        assert net.cuts == {("n1", "n2")}
        net.endpoint("n1").send("n2", {"i": 6})  # sent during the cut: lost
        await asyncio.sleep(1)
        await net.heal()
        net.endpoint("n1").send("n2", {"i": 7})
        await asyncio.sleep(1)
        return inbox

    assert loop.run(go()) == {"n1": [("n2", 3)], "n2": [("n1", 4), ("n1", 7)],
                              "n3": [("n1", 2)]}
