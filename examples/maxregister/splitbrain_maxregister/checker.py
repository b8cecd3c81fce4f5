"""A checker beside the model: no client ever reads a smaller value than it read before."""

from __future__ import annotations

from splitbrain import History, Result


def monotonic_reads(history: History) -> Result:
    """Each client's ok reads never decrease (a max register only grows)."""
    last: dict[object, tuple[int, int]] = {}
    anomalies = []
    for op in history.ops():
        if op.f != "read" or op.type != "ok" or op.output is None:
            continue
        prev = last.get(op.process)
        if prev is not None and op.output < prev[1]:
            anomalies.append({"type": "read-went-down", "ops": [prev[0], op.index],
                              "explanation": f"Client {op.process} read {prev[1]} (op {prev[0]}), "
                                             f"then {op.output} (op {op.index}), which is smaller."})
        last[op.process] = (op.index, op.output)
    return Result(valid=not anomalies, anomalies=anomalies, checker="max-monotonic",
                  stats={"reads": sum(1 for op in history.ops() if op.f == "read")})
