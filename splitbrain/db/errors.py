"""Errors a node reports to its clients (docs/node-api.md, "Errors").

Node logic raises :class:`NodeError`; the HTTP layer turns it into the JSON error body and
status. ``definite`` says whether the operation certainly did not take effect."""

from __future__ import annotations

STATUS = {
    "bad-request": 400,
    "not-found": 404,
    "condition-failed": 409,
    "unavailable": 503,
    "timeout": 504,
    "internal": 500,
}


class NodeError(Exception):
    """``code`` is one of :data:`STATUS`; ``message`` is one sentence for a person."""

    def __init__(self, code: str, message: str, *, definite: bool):
        if code not in STATUS:
            raise ValueError(f"unknown node error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.definite = definite

    @property
    def status(self) -> int:
        return STATUS[self.code]

    def to_dict(self) -> dict:
        return {"error": self.code, "definite": self.definite, "message": self.message}


def bad_request(message: str) -> NodeError:
    return NodeError("bad-request", message, definite=True)


def unavailable(message: str) -> NodeError:
    return NodeError("unavailable", message, definite=True)


def timeout(message: str) -> NodeError:
    return NodeError("timeout", message, definite=False)
