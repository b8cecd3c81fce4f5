"""catchup: which partitions' replicas report different applied indexes, and the bounded wait."""

import asyncio

from splitbrain.db.client import FAIL, OK, Reply
from splitbrain.harness.catchup import lagging, wait_caught_up


def status(name, **applied):
    """A dynamodb node's status: for each partition ``p<i>=(own, {peer: index})``."""
    return {"name": name, "partitions": {
        p[1:]: {"replicas": [name], "commit_index": {**peers, name: own}}
        for p, (own, peers) in applied.items()}}


def test_only_each_nodes_own_index_counts():
    # n1 thinks n2 is at 3 (old news); n2 says 5 itself: partition 0 is caught up.
    s = [status("n1", p0=(5, {"n2": 3})), status("n2", p0=(5, {"n1": 5})),
         status("n3", p1=(7, {}))]
    assert lagging(s) == {}
    s.append(status("n4", p1=(6, {"n3": 7})))
    assert lagging(s) == {"1": {"n3": 7, "n4": 6}}


def test_nodes_without_partitions_have_nothing_to_wait_for():
    assert lagging([{"name": "n1", "ring": []}, {"name": "n2", "partitions": {"0": {}}}]) == {}


class Client:
    def __init__(self, replies):
        self.replies = list(replies)

    async def status(self, *, timeout=None):
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


def test_wait_returns_once_caught_up_and_gives_up_after_the_timeout():
    behind, ahead = status("n2", p0=(4, {})), status("n2", p0=(5, {}))
    n1 = Client([Reply(OK, value=status("n1", p0=(5, {})))])
    n2 = Client([Reply(OK, value=behind), Reply(FAIL, error="connection-refused"),
                 Reply(OK, value=ahead)])
    polls = []
    n2.status = lambda *, timeout=None, f=n2.status: polls.append(1) or f(timeout=timeout)
    done = asyncio.run(wait_caught_up({"n1": n1, "n2": n2}, timeout=5, poll=0.01))
    assert done["lagging"] == {} and done["waited"] < 5
    assert len(polls) == 3, "a poll n2 did not answer counts its last (lagging) answer"
    stuck = Client([Reply(OK, value=behind)])
    n1 = Client([Reply(OK, value=status("n1", p0=(5, {})))])
    late = asyncio.run(wait_caught_up({"n1": n1, "n2": stuck}, timeout=0.05, poll=0.01))
    assert late["lagging"] == {"0": {"n1": 5, "n2": 4}} and late["waited"] >= 0.05


def ring_status(name, roots, hints=0, down=()):
    """A dynamo or lww node's status: its Merkle roots by range, hints, and peers it thinks down."""
    return {"name": name, "merkle_roots": roots, "hints_pending": hints,
            "members": {p: "down" if p in down else "up" for p in ("n1", "n2", "n3")
                        if p != name}}


def test_dynamo_ranges_lag_while_their_owners_roots_differ_hints_wait_or_views_are_stale():
    same = [ring_status("n1", {"0": "aa", "1": "bb"}), ring_status("n2", {"0": "aa"})]
    assert lagging(same) == {}
    assert lagging([ring_status("n1", {"0": "aa", "1": "bb"}), ring_status("n2", {"0": "ab"}),
                    ring_status("n3", {"1": "bb"}, hints=2)]) == {
        "range 0": {"n1": "aa", "n2": "ab"}, "hints": {"n3": 2}}
    # n2 still thinks n1 down though n1 answers; n3 is down for all n1 knows, and answers nothing.
    stale = [ring_status("n1", {}, down=("n3",)), ring_status("n2", {}, down=("n1",))]
    assert lagging(stale) == {"members": {"n2": ["n1"]}}


def test_while_ranges_lag_the_wait_asks_for_repair_once_a_second():
    class Ring(Client):
        repairs = 0

        async def repair(self, *, timeout=None):
            Ring.repairs += 1
            return Reply(OK, value={"exchanges": 2})

    n1 = Ring([Reply(OK, value=ring_status("n1", {"0": "aa"}))])
    n2 = Ring([Reply(OK, value=ring_status("n2", {"0": "ab"}))] * 3
              + [Reply(OK, value=ring_status("n2", {"0": "aa"}))])
    done = asyncio.run(wait_caught_up({"n1": n1, "n2": n2}, timeout=5, poll=0.01))
    assert done["lagging"] == {} and done["repairs"] == 1 and Ring.repairs == 2
