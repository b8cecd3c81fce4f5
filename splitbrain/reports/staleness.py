"""The staleness checker's measurements beside the PBS prediction for the run's N, R, W
(``details.k_staleness``, ``details.t_visibility`` and ``details.pbs`` of
:mod:`splitbrain.checkers.staleness`), as two tables a person can compare row by row."""

from __future__ import annotations

from typing import Any

from splitbrain.reports.figures import Table, cell


def measured_vs_predicted(details: dict[str, Any]) -> tuple[list[Table], dict[str, Any]]:
    """The two comparison tables (none when ``details`` has no prediction), and the details
    left for the generic figures."""
    pbs = details.get("pbs")
    k = details.get("k_staleness")
    rows = details.get("t_visibility")
    if not (isinstance(pbs, dict) and isinstance(k, dict) and isinstance(rows, list)):
        return [], details
    nrw = f"N={pbs.get('n')}, R={pbs.get('r')}, W={pbs.get('w')}"
    measured_k = k.get("p_at_least") or []
    predicted_k = pbs.get("k_staleness_p_at_least") or []
    k_rows = [[str(i), cell(m), cell(p)] for i, (m, p) in enumerate(zip(measured_k, predicted_k))]
    predicted_t = [p.get("p_visible") for p in pbs.get("t_visibility") or [] if isinstance(p, dict)]
    t_rows = [[f"{r.get('t_ms_from')}–{r.get('t_ms_to') or '∞'}", cell(r.get("reads")),
               cell(r.get("p_visible")), cell(predicted_t[i]) if i < len(predicted_t) else ""]
              for i, r in enumerate(x for x in rows if isinstance(x, dict))]
    tables = [
        Table(f"k-staleness: P(a read is at least k versions behind), measured vs PBS ({nrw})",
              ["k", "measured", "PBS"], k_rows, len(k_rows)),
        Table(f"t-visibility: P(a read sees a write acknowledged t ms before it began), "
              f"measured vs PBS ({nrw})", ["t (ms)", "reads", "measured", "PBS"],
              t_rows, len(t_rows))]
    rest = {key: v for key, v in details.items() if key != "t_visibility"}
    rest["k_staleness"] = {key: v for key, v in k.items() if key != "p_at_least"}
    rest["pbs"] = {key: v for key, v in pbs.items()
                   if key not in ("k_staleness_p_at_least", "t_visibility")}
    return tables, rest
