"""A 200,000-op run: the report stays under 1 MB, as README says (timelines centred on anomalies, plots
downsampled) and is built in reasonable time. (That it opens in under 3 s is measured in
Chromium by test_report_browser.py.)"""

from __future__ import annotations

import json
import re

from html_page import Page
from report_samples import big_report
from splitbrain.reports.timeline import MAX_OPS


def test_200k_op_report_is_under_1_mb_and_centred_on_anomalies(tmp_path_factory):
    run, seconds = big_report(tmp_path_factory.getbasetemp())
    size = (run / "report.html").stat().st_size
    assert size < 1_000_000, f"report is {size / 1e6:.2f} MB; README promises under 1 MB"
    assert seconds < 120, f"the report took {seconds:.0f} s to write"
    html = (run / "report.html").read_text()
    page = Page(html)
    assert page.with_class("v-invalid")
    text = page.visible
    assert "ops 200000 (" in text
    # every kept anomaly is listed up to the cap, with the exact total
    assert re.search(r"Anomalies \(300 of 2000 listed", text)
    # the linearizability window is drawn around the op that cannot be placed, not the history
    tips = json.loads([t for a, t in page.scripts if a.get("id") == "tips-checker-linearizable-1"][0])
    assert 1 < len(tips) <= MAX_OPS
    failing = [a["data-op"] for a in page.with_class("r-failing")]
    assert len(failing) == 1 and failing[0] in tips
    # plots are downsampled: a bounded number of points whatever the run's length
    points = sum(len(re.findall(r"h0", d)) for d in re.findall(r'class="dots[^"]*" d="([^"]*)"', html))
    assert 0 < points < 20_000
    assert "fastest, median and slowest" in text
    for fault in ("partition", "kill", "pause", "clock"):
        assert f">{fault} " in html or f">{fault}<" in html
