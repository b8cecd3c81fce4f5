"""The comparison as a table (rows of design facts and measured figures, one column per run), a
paragraph that states the measured differences in words, a figure (availability under partition
against anomalies per 1,000 ops), and the two files written from them: ``compare.md`` and the
self-contained ``compare.html``."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from markupsafe import Markup

from splitbrain.compare.design import ROWS as DESIGN_ROWS
from splitbrain.compare.measure import Cell
from splitbrain.reports.html import asset, environment
from splitbrain.reports.svg import Scale, tick_label

#: The measured rows, in table order: (key in a column's ``cells``, label).
MEASURED_ROWS = (
    ("acknowledged_writes", "acknowledged writes (of attempted)"),
    ("lost_writes", "acknowledged writes lost"),
    ("lost_updates", "lost updates of read-modify-write"),
    ("siblings", "siblings surfaced (extra values in reads)"),
    ("stale_eventual", "stale reads, eventual"),
    ("stale_strong", "stale reads, strong"),
    ("k_staleness", "k-staleness beside the PBS prediction"),
    ("read_your_writes", "read-your-writes lapses"),
    ("monotonic_reads", "monotonic-read lapses"),
    ("linearizable", "strong reads and conditional writes linearizable"),
    ("available", "availability, whole run"),
    ("available_none", "availability, no fault"),
    ("available_partition", "availability, partition"),
    ("available_partition_majority", "… majority side"),
    ("available_partition_minority", "… minority side"),
    ("available_kill", "availability, kill"),
    ("available_pause", "availability, pause"),
    ("available_clock", "availability, clock skew"),
    ("converged", "converged after healing"),
    ("latency_read_p50", "read latency p50"),
    ("latency_read_p99", "read latency p99"),
    ("latency_write_p50", "write latency p50"),
    ("latency_write_p99", "write latency p99"),
    ("throughput", "throughput"),
    ("anomalies_per_1000", "anomalies per 1,000 ops"),
)
NOT_MEASURED = Cell(None, "— (no such fault in this run)")


@dataclass
class Column:
    """One run of the comparison: its label (the mode, and the quorum when swept), the run
    directory, its verdict, its design facts and its measured cells."""

    label: str
    mode: str
    run_dir: Path
    verdict: Any
    design: dict[str, str]
    cells: dict[str, Cell] = field(default_factory=dict)

    def cell(self, key: str) -> Cell:
        return self.cells.get(key, NOT_MEASURED)

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "mode": self.mode, "run_dir": str(self.run_dir),
                "verdict": self.verdict, "design": self.design,
                "cells": {k: c.to_dict() for k, c in self.cells.items()}}


def rows(columns: list[Column]) -> list[tuple[str, list[str]]]:
    """(label, one text per column) for every row of the table, design facts first; a fault
    row no run had is left out."""
    out = [(label, [c.design[key] for c in columns]) for key, label in DESIGN_ROWS]
    out.append(("verdict (by the mode's own promises)",
                [{True: "valid", False: "INVALID"}.get(c.verdict, "unknown") for c in columns]))
    for key, label in MEASURED_ROWS:
        if not any(key in c.cells for c in columns):
            continue
        out.append((label, [c.cell(key).text for c in columns]))
    return out


def paragraph(columns: list[Column]) -> str:
    """The measured differences in words, one clause per column."""
    parts = []
    for c in columns:
        lost, acked = c.cell("lost_writes"), c.cell("acknowledged_writes")
        words = [f"{c.label} lost {lost.value:,} of {acked.value:,} acknowledged writes"
                 if lost.value is not None and acked.value is not None
                 else f"{c.label}: lost writes not measured"]
        sib = c.cell("siblings")
        if sib.value:
            words.append(f"surfaced {sib.value:,} siblings")
        stale = c.cell("stale_eventual")
        if stale.value:
            words.append(f"served {stale.value:,} stale eventual reads")
        minority = c.cell("available_partition_minority")
        if minority.value is not None:
            words.append(f"its minority side answered {minority.value:.0%} of ops during "
                         f"partitions")
        lin = c.cell("linearizable")
        if lin.value is not None:
            words.append("its strong reads and conditional writes were "
                         + ("linearizable" if lin.value is True else "NOT linearizable"
                            if lin.value is False else "of unknown linearizability"))
        parts.append(words[0] if len(words) == 1
                     else ", ".join(words[:-1]) + " and " + words[-1])
    return "; ".join(parts) + "."


def markdown(title: str, columns: list[Column], notes: list[str], base: Path) -> str:
    """compare.md: the title, the paragraph, the table, the notes and links to each report."""
    esc = _md_escape
    head = "| | " + " | ".join(esc(c.label) for c in columns) + " |"
    lines = [f"# {title}", "", paragraph(columns), "", head,
             "|---|" + "---|" * len(columns)]
    lines += ["| " + esc(label) + " | " + " | ".join(esc(t) for t in texts) + " |"
              for label, texts in rows(columns)]
    lines += ["", *[f"- {n}" for n in notes], ""]
    lines += [f"- {c.label}: [{_rel(c.run_dir / 'report.html', base)}]"
              f"({_rel(c.run_dir / 'report.html', base)})" for c in columns]
    return "\n".join(lines) + "\n"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _rel(path: Path, base: Path) -> str:
    return os.path.relpath(path, base)


def figure(columns: list[Column]) -> Markup:
    """An inline SVG: one point per column at (availability under partition, anomalies per
    1,000 ops); columns without a partition use their whole-run availability (and say so)."""
    points = []
    for c in columns:
        x = c.cell("available_partition").value
        label = c.label
        if x is None:
            x, label = c.cell("available").value, f"{c.label} (whole run)"
        y = c.cell("anomalies_per_1000").value
        if x is not None and y is not None:
            points.append((float(x), float(y), label))
    width, height, left, bottom = 560, 320, 56, 40
    xs = Scale(0.0, 1.0, left, width - 20)
    ymax = max([p[1] for p in points] + [1.0]) * 1.15
    ys = Scale(0.0, ymax, height - bottom, 16)
    out = [f'<svg class="figure" viewBox="0 0 {width} {height}" width="{width}" '
           f'height="{height}" role="img" aria-label="availability under partition against '
           f'anomalies per 1,000 ops">']
    for t in xs.ticks(5):
        out.append(f'<line x1="{xs(t)}" x2="{xs(t)}" y1="16" y2="{height - bottom}" '
                   f'class="grid"/><text x="{xs(t)}" y="{height - bottom + 16}" '
                   f'text-anchor="middle">{t:.0%}</text>')
    for t in ys.ticks(5):
        out.append(f'<line x1="{left}" x2="{width - 20}" y1="{ys(t)}" y2="{ys(t)}" '
                   f'class="grid"/><text x="{left - 6}" y="{ys(t) + 4}" '
                   f'text-anchor="end">{tick_label(t)}</text>')
    out.append(f'<text x="{(left + width - 20) / 2}" y="{height - 4}" text-anchor="middle">'
               f'availability under partition</text>')
    out.append(f'<text transform="translate(14 {(height - bottom) / 2}) rotate(-90)" '
               f'text-anchor="middle">anomalies per 1,000 ops</text>')
    for i, (x, y, label) in enumerate(points):
        right = x < 0.75  # labels of points near the right edge go to their left
        out.append(f'<circle cx="{xs(x)}" cy="{ys(y)}" r="6" class="k{i % 6}"/>'
                   f'<text x="{xs(x) + (9 if right else -9)}" y="{ys(y) - 8}" class="point" '
                   f'text-anchor="{"start" if right else "end"}">{Markup.escape(label)}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def html(title: str, columns: list[Column], notes: list[str], base: Path) -> str:
    """compare.html: one self-contained page (inline CSS and SVG, no script, no network)."""
    return environment().get_template("compare.html.j2").render(
        title=title, css=asset("report.css"), paragraph=paragraph(columns),
        columns=[(c.label, c.verdict, _rel(c.run_dir / "report.html", base)) for c in columns],
        rows=rows(columns), figure=figure(columns), notes=notes)
