"""junit.xml: one test case per checker, so CI systems show a run's verdict natively.

A valid checker passes; an invalid one fails with the anomalies' summary as the failure message
(``2 anomalies: 1 lost-write, 1 stale-read``) and their explanations as the body; an unknown one
is an error whose message is the reason it could not decide.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from splitbrain.reports.run import anomaly_ops
from splitbrain.reports.sections import type_counts
from splitbrain.reports.text import verdict_word

MAX_EXPLANATIONS = 200


def anomalies_summary(result: dict[str, Any]) -> str:
    """``N anomalies: n1 type1, n2 type2`` (or the verdict, when it lists none)."""
    counts = type_counts(result)
    total = sum(n for _, n in counts)
    if not total:
        return f"{verdict_word(result.get('valid'))} with no anomaly listed" + (
            f": {result['reason']}" if result.get("reason") else "")
    word = "anomaly" if total == 1 else "anomalies"
    return f"{total} {word}: " + ", ".join(f"{n} {t}" for t, n in counts)


def _body(result: dict[str, Any]) -> str:
    lines = []
    anomalies = [a for a in result.get("anomalies") or [] if isinstance(a, dict)]
    for a in anomalies[:MAX_EXPLANATIONS]:
        ops = ", ".join(str(i) for i in anomaly_ops(a)[:20])
        lines.append(f"{a.get('type', 'anomaly')} (ops {ops}): {a.get('explanation', '')}")
    if len(anomalies) > MAX_EXPLANATIONS:
        lines.append(f"… and {len(anomalies) - MAX_EXPLANATIONS} more in results.json")
    return "\n".join(lines)


def _clean(text: str) -> str:
    """XML 1.0 cannot hold most control characters, even escaped; a history may."""
    return "".join(c if c in "\t\n\r" or ord(c) >= 0x20 else "\ufffd" for c in text)


def render(checker_results: dict[str, dict[str, Any]], *, suite: str,
           verdicts: dict[str, Any] | None = None, seconds: float = 0.0) -> str:
    """The junit.xml text for a run's checker results (name -> ``Result.to_dict()``).
    ``verdicts`` overrides a checker's own ``valid`` with the run's judgement of it (the policy
    passes a checker whose anomalies the mode permits; they go to ``system-out``). A run with
    no results gets one erroring case, so CI never reads it as zero tests passing."""
    if not checker_results:
        checker_results = {"results": {"valid": "unknown",
                                       "reason": "the run was never checked (no results.json)"}}
    given = verdicts or {}
    verdicts = {name: verdict_word(given.get(name, r.get("valid")))
                for name, r in checker_results.items()}
    suites = ET.Element("testsuites", name="splitbrain")
    ts = ET.SubElement(suites, "testsuite", name=_clean(suite), tests=str(len(verdicts)),
                       failures=str(sum(v == "invalid" for v in verdicts.values())),
                       errors=str(sum(v == "unknown" for v in verdicts.values())),
                       time=f"{seconds:.3f}")
    for name, result in checker_results.items():
        case = ET.SubElement(ts, "testcase", name=_clean(name), classname=_clean(suite))
        if verdicts[name] == "invalid":
            fail = ET.SubElement(case, "failure", message=_clean(anomalies_summary(result)),
                                 type="invalid")
            fail.text = _clean(_body(result))
        elif verdicts[name] == "unknown":
            err = ET.SubElement(case, "error", type="unknown",
                                message=_clean(str(result.get("reason") or
                                                   "the checker could not decide")))
            err.text = _clean(_body(result))
        elif type_counts(result):  # passed, with anomalies the run's mode permits
            out = ET.SubElement(case, "system-out")
            out.text = _clean(f"permitted by the mode: {anomalies_summary(result)}\n"
                              f"{_body(result)}")
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"
