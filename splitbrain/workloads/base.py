"""What every workload is: a generator of client ops, how to run one op against a node, the
final reads, and the checkers that judge the history (DESIGN.md, "The harness").

A workload is built for one mode (``dynamo``, ``lww`` or ``dynamodb``) because the mode decides
which operations exist (cas and atomic adds only in dynamodb) and how an op becomes requests
(a set add is one request in dynamodb, a read-merge-write elsewhere). It keeps the state its
generator needs (keys in use, values written) and nothing else.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Callable, ClassVar, Mapping

from splitbrain.checkers.result import Result
from splitbrain.db.client import FAIL, OK, NodeClient, Reply
from splitbrain.harness import generators as gen
from splitbrain.harness.generators import Generator, Invocation
from splitbrain.history import History

Checker = Callable[[History], Result]

#: Attempts per final read before it is given up (each attempt is recorded).
FINAL_READ_ATTEMPTS = 5


class Workload(ABC):
    """One workload for one mode. Subclasses set :attr:`name` and implement the four methods."""

    name: ClassVar[str]

    def __init__(self, mode: str, *, reads: tuple[str, ...] | None = None):
        self.mode = mode
        #: The read consistencies this workload draws from: strong and eventual in dynamodb
        #: (or what ``reads`` says, e.g. etcd's one kind of read), eventual elsewhere.
        self.reads = reads or (("strong", "eventual") if mode == "dynamodb" else ("eventual",))

    @abstractmethod
    def generator(self) -> Generator:
        """The endless client-op generator (the run loop adds the rate and the time limit)."""

    @abstractmethod
    async def invoke(self, client: NodeClient, inv: Invocation) -> Reply:
        """Run ``inv`` against ``client``'s node; the reply's type is the history's completion
        (``ok``, ``fail``, ``info``) and its value and meta are recorded."""

    @abstractmethod
    def final_reads(self) -> list[Invocation]:
        """The reads every node answers after the cluster has healed (unpinned; the run loop
        pins a copy to each node)."""

    @abstractmethod
    def checkers(self, params: Mapping[str, Any] | None = None) -> dict[str, Checker]:
        """The checkers that judge this workload's history in this mode, by name; ``params`` is
        the cluster config (as a dict) the run used."""

    def final_generator(self, node: str) -> Generator:
        """The final reads pinned to ``node``, each retried until ok, at most
        :data:`FINAL_READ_ATTEMPTS` times."""
        pinned = [Invocation(i.f, key=i.key, consistency=i.consistency, node=node,
                             meta={**(i.meta or {}), "final": True})
                  for i in self.final_reads()]
        return gen.seq(*(gen.limit(FINAL_READ_ATTEMPTS, gen.until_ok(gen.repeat(i)))
                         for i in pinned))

    def describe(self) -> dict[str, Any]:
        """What test.json records about the workload."""
        return {"name": self.name, "mode": self.mode}


def read_value(reply: Reply) -> Any:
    """The single value of a lww/dynamodb read (``None`` when absent)."""
    values = reply.value or []
    return values[0] if values else None


async def read_merge_write(client: NodeClient, key: str, merge: Callable[[list], Any],
                           written: Any) -> Reply:
    """Read ``key`` (all siblings), write ``merge(siblings)`` back with the read's causal
    context (dynamo) or over the old value (lww): the client's half of a read-modify-write.

    A failed read means nothing was written: ``fail``. The write's reply decides otherwise; the
    completion's value is ``written`` (the op's argument) and its meta says what was read
    (``read``, ``read_context``, and ``read_quorum``, the read's ``quorum``)."""
    read = await client.get(key)
    if read.type != OK:
        return Reply(FAIL, error=read.error, meta={"phase": "read", **read.meta})
    context = read.meta.get("context")
    new = merge(read.value or [])
    put = await client.put(key, new, context=context)
    meta = {**put.meta, "read": read.value, "wrote": new}
    if context is not None:
        meta["read_context"] = context
    if "quorum" in read.meta:
        meta["read_quorum"] = read.meta["quorum"]
    return Reply(put.type, value=written if put.type == OK else None, error=put.error, meta=meta)
