"""The verdict every checker returns (DESIGN.md, "Checkers")."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Validity = bool | Literal["unknown"]
UNKNOWN: Literal["unknown"] = "unknown"


@dataclass
class Result:
    """A checker's verdict.

    ``valid`` is ``True``, ``False`` or ``"unknown"``. ``anomalies`` is a list of dicts, each with
    at least ``type``, ``ops`` (the history indices involved) and ``explanation`` (one sentence a
    person can follow). ``stats`` holds counts and figures. ``reason`` says why a verdict is
    unknown. ``details`` holds checker-specific structured data (per-key verdicts, distributions,
    the failing window for a timeline) that reports may render.
    """

    valid: Validity
    anomalies: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    checker: str = ""

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"checker": self.checker, "valid": self.valid,
                             "anomalies": self.anomalies, "stats": self.stats}
        if self.reason is not None:
            d["reason"] = self.reason
        if self.details:
            d["details"] = self.details
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Result":
        return cls(valid=d["valid"], anomalies=d.get("anomalies", []), stats=d.get("stats", {}),
                   reason=d.get("reason"), details=d.get("details", {}),
                   checker=d.get("checker", ""))


def merge_validity(*values: Validity) -> Validity:
    """False beats unknown beats true."""
    if any(v is False for v in values):
        return False
    if any(v == UNKNOWN for v in values):
        return UNKNOWN
    return True


def compose(results: dict[str, Result]) -> Result:
    """Combine named results into one: validity by :func:`merge_validity`, anomalies
    concatenated (each tagged with its checker), per-checker results under ``details``."""
    anomalies = [{**a, "checker": name} for name, r in results.items() for a in r.anomalies]
    reasons = [f"{name}: {r.reason}" for name, r in results.items() if r.reason]
    return Result(
        valid=merge_validity(*(r.valid for r in results.values())) if results else True,
        anomalies=anomalies,
        stats={name: r.stats for name, r in results.items()},
        reason="; ".join(reasons) or None,
        details={"results": {name: r.to_dict() for name, r in results.items()}},
        checker="composed",
    )
