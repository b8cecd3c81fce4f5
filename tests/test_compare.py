"""`splitbrain compare`: the partition sides and the measured cells (unit), bad input, and one
short real comparison whose table is checked against each run's own history and results, and
whose page opens clean in Chromium."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from test_report_browser import browser, in_browser  # noqa: F401 (browser is a fixture)

from splitbrain.compare.design import facts
from splitbrain.compare.measure import Cell, node_sides, partition_sides
from splitbrain.compare.render import Column, html
from splitbrain.history import Op

NAMES = ["n1", "n2", "n3", "n4", "n5"]


def cut_of(*groups: list[str]) -> dict[str, list[str]]:
    """The directed links a partition into ``groups`` cuts."""
    return {a: [b for g in groups if a not in g for b in g] for grp in groups for a in grp}


def test_sides_majority_minority_and_bridge():
    assert node_sides(cut_of(["n1", "n2"], ["n3", "n4", "n5"]), NAMES) == {
        "n1": "minority", "n2": "minority", "n3": "majority", "n4": "majority",
        "n5": "majority"}
    assert set(node_sides(cut_of(["n1"], ["n2", "n3", "n4", "n5"]), NAMES).values()) == {
        "minority", "majority"}
    # a bridge: n3 talks to both halves, so every node reaches 3 of 5 directly
    bridge = {"n1": ["n4", "n5"], "n2": ["n4", "n5"], "n4": ["n1", "n2"], "n5": ["n1", "n2"]}
    assert set(node_sides(bridge, NAMES).values()) == {"majority"}
    # a one-way cut still separates the pair
    assert node_sides({"n1": ["n2"]}, ["n1", "n2", "n3"]) == {
        "n1": "majority", "n2": "majority", "n3": "majority"}
    assert node_sides({"n1": ["n2", "n3"]}, ["n1", "n2", "n3"])["n1"] == "minority"


def nemesis_op(f: str, value, call: float, ret: float) -> Op:
    return Op(0, "nemesis", f, value, value, "info", call, ret)


def test_partition_sides_span_start_to_the_completed_stop():
    cut = cut_of(["n1"], ["n2", "n3"])
    ops = [nemesis_op("start-partition", {"cut": cut}, 10, 11),
           nemesis_op("stop-partition", {}, 20, 21),
           nemesis_op("kill", {"nodes": ["n1"]}, 30, 31),
           nemesis_op("start-partition", {"cut": cut}, 40, 41),
           nemesis_op("heal", {}, 50, 52)]
    sides = partition_sides(ops, ["n1", "n2", "n3"])
    assert [(lo, hi) for lo, hi, _ in sides] == [(10, 21), (40, 52)]
    assert sides[0][2] == {"n1": "minority", "n2": "majority", "n3": "majority"}


def run_cli(*args: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "splitbrain.cli", *args], capture_output=True,
                          text=True, env=env, timeout=timeout)


@pytest.mark.integration
@pytest.mark.parametrize("args, fragment", [
    (["--modes", "dynamo,paxos"], "--modes names 'paxos', which is not a mode"),
    (["--modes", ","], "--modes is empty"),
    (["--workload", "queue"], "--workload 'queue' is neither a built-in nor an installed"),
    (["--nemesis", "flood"], "unknown nemesis 'flood'"),
])
def test_compare_bad_input_is_one_sentence_and_254(tmp_path, args, fragment):
    env = {**os.environ, "SPLITBRAIN_REGISTRY": str(tmp_path / "registry")}
    p = run_cli("compare", "--store", str(tmp_path / "store"), *args, env=env, timeout=60)
    assert p.returncode == 254, p.stderr
    assert fragment in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").rglob("test.json"))


@pytest.mark.integration
@pytest.mark.parametrize("args, fragment", [
    (["--mode", "dynamodb", "--r", "1"], "dynamodb replicates by Paxos majorities"),
    (["--mode", "lww", "--w", "4"], "--w must be between 1 and N=3"),
])
def test_quorum_options_refused_where_they_cannot_apply(tmp_path, args, fragment):
    env = {**os.environ, "SPLITBRAIN_REGISTRY": str(tmp_path / "registry")}
    p = run_cli("test", "--store", str(tmp_path / "store"), *args, env=env, timeout=60)
    assert p.returncode == 254 and fragment in p.stderr, p.stderr


def history_lines(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]


def acknowledged_writes(events: list[dict]) -> int:
    """Ok completions of client ops other than reads, final reads aside: counted from the
    JSONL itself, not through the package's pairing."""
    return sum(1 for e in events if e["type"] == "ok" and isinstance(e["process"], int)
               and e["f"] != "read" and not (e.get("meta") or {}).get("final"))


def fault_schedule(events: list[dict]) -> list[tuple[str, str]]:
    return [(e["f"], json.dumps(e.get("value"), sort_keys=True)) for e in events
            if e["process"] == "nemesis" and e["type"] == "invoke"
            and e["f"] not in ("heal",) and not e["f"].startswith(("stop-", "restart"))]


@pytest.mark.integration
def test_short_compare_matches_each_runs_own_results(tmp_path):
    env = {**os.environ, "SPLITBRAIN_REGISTRY": str(tmp_path / "registry")}
    store = tmp_path / "store"
    p = run_cli("compare", "--time-limit", "8", "--nemesis", "partition,kill",
                "--nemesis-interval", "1.5", "--nodes", "3", "--seed", "11", "--store",
                str(store), "--summary-md", str(tmp_path / "summary.md"), env=env, timeout=280)
    assert p.returncode in (0, 1, 2), p.stderr
    out_dir = next((store / "compare").iterdir())
    data = json.loads((out_dir / "compare.json").read_text())
    columns = data["columns"]
    assert [c["label"] for c in columns] == ["dynamo", "lww", "dynamodb"]
    verdicts = []
    schedules = []
    for col in columns:
        run_dir = Path(col["run_dir"])
        results = json.loads((run_dir / "results.json").read_text())
        verdicts.append(results["valid"])
        assert col["verdict"] == results["valid"]
        by_checker = results["details"]["results"]
        cells = {k: v["value"] for k, v in col["cells"].items()}
        events = history_lines(run_dir)
        schedules.append(fault_schedule(events))
        assert cells["acknowledged_writes"] == acknowledged_writes(events) > 20
        by_fault = by_checker["availability"]["stats"]["by_fault"]
        for kind, row in by_fault.items():
            assert cells[f"available_{kind}"] == row["available"]
        if col["mode"] == "lww":
            lost = by_checker["lww"]["stats"]["anomaly_counts"].get("lost-write", 0)
            assert cells["lost_writes"] == lost
            assert cells["stale_eventual"] == by_checker["staleness"]["stats"]["stale_reads"]
            assert cells["linearizable"] is None
        if col["mode"] == "dynamo":
            lost = by_checker["siblings"]["stats"]["anomaly_counts"].get("lost-write", 0)
            assert cells["lost_writes"] == lost
            assert "missed an acknowledged write (causally)" in \
                col["cells"]["stale_eventual"]["text"]
        if col["mode"] == "dynamodb":
            assert cells["linearizable"] == by_checker["linearizable"]["valid"]
            assert cells["stale_eventual"] == by_checker["staleness"]["stats"]["stale_reads"]
    expected = 1 if False in verdicts else 0 if all(v is True for v in verdicts) else 2
    assert p.returncode == expected
    # the same fault schedule: every run drew the same faults, in the same order, as far as
    # the shortest got
    shortest = min(map(len, schedules))
    assert shortest >= 1
    assert all(s[:shortest] == schedules[0][:shortest] for s in schedules)
    md = (out_dir / "compare.md").read_text()
    for col in columns:
        assert f"| {col['label']} " in md or f" {col['label']} |" in md
        assert os.path.relpath(Path(col["run_dir"]) / "report.html", out_dir) in md
    assert "acknowledged writes lost" in md and "availability, partition" in md
    assert f"{data['columns'][1]['label']} lost {columns[1]['cells']['lost_writes']['value']:,}" \
        in md
    assert (out_dir / "compare.html").is_file()
    summary = (tmp_path / "summary.md").read_text()  # the CI page lists every run with its seed
    assert summary.count("| 11 |") == 3  # one row per run, each with the shared seed
    assert all(f"{m}-register-partition+kill" in summary for m in ("dynamo", "lww", "dynamodb"))
    assert str(out_dir / "compare.html") in p.stdout


@pytest.mark.integration
@pytest.mark.browser
def test_compare_page_opens_clean_in_chromium(browser, tmp_path):
    cols = [Column(label, mode, tmp_path / mode, True, facts(mode, None), {
        "lost_writes": Cell(lost, f"{lost} (1.0%)"), "acknowledged_writes": Cell(300, "300"),
        "available_partition": Cell(avail, f"{avail:.1%} of 10"),
        "anomalies_per_1000": Cell(lost * 3.3, f"{lost * 3.3:.1f}")})
        for label, mode, lost, avail in (("lww <b>", "lww", 3, 0.9), ("dynamo", "dynamo", 0, 1),
                                         ("dynamodb", "dynamodb", 0, 0.6))]
    page_path = tmp_path / "compare.html"
    page_path.write_text(html("a comparison", cols, ["a note"], tmp_path))

    async def scenario(page):
        await page.goto(page_path.as_uri())
        rows = await page.eval("document.querySelectorAll('table.compare tbody tr').length")
        circles = await page.eval("document.querySelectorAll('svg.figure circle').length")
        header = await page.eval("document.querySelector('table.compare th a').innerText")
        await page.screenshot("compare.png", full=True)
        return rows, circles, header, page.errors()

    rows, circles, header, errors = in_browser(browser, scenario)
    assert errors == []
    assert rows == 4 + 1 + 4 and circles == 3 and header == "lww <b>"


def test_plan_shares_every_option_and_sweeps_quorums(tmp_path):
    from splitbrain.compare.run import CompareOptions

    plan = CompareOptions(seed=4, store=str(tmp_path), time_limit=7, sweep_quorums=True).plan()
    labels = [label for label, _ in plan]
    assert labels[:3] == ["dynamo", "lww", "dynamodb"]
    assert labels[3:] == [f"{m} R={r} W={w}" for m in ("dynamo", "lww")
                          for r, w in ((1, 1), (2, 2), (3, 1), (1, 3))]
    assert {(o.seed, o.time_limit, o.workload, o.nemesis) for _, o in plan} == {
        (4, 7, "register", "partition,kill,clock")}
    swept = dict(plan)["lww R=3 W=1"]
    assert (swept.r, swept.w, swept.cluster_params()) == (3, 1, {"r": 3, "w": 1})
    assert "--r 3 --w 1" in swept.command()


def test_dynamo_staleness_is_measured_by_what_a_read_missed_causally(tmp_path):
    from splitbrain.compare.measure import RunFacts, _sibling_k_staleness
    from splitbrain.history import Event, pair, validate

    ms = 1_000_000
    ev = [Event("invoke", 0, "write", 1, 0, key="k"), Event("ok", 0, "write", 1, 1 * ms, key="k",
                                                           meta={"read": []}),
          Event("invoke", 0, "write", 2, 2 * ms, key="k"),
          Event("ok", 0, "write", 2, 3 * ms, key="k", meta={"read": [1]}),
          # replaced 1 by 2: reading [2] misses nothing; reading [1] after 2 was acked misses 2
          Event("invoke", 1, "read", None, 4 * ms, key="k"),
          Event("ok", 1, "read", [2], 5 * ms, key="k", meta={"siblings": True}),
          Event("invoke", 1, "read", None, 6 * ms, key="k"),
          Event("ok", 1, "read", [1], 7 * ms, key="k", meta={"siblings": True}),
          Event("invoke", 2, "read", None, 2 * ms + 1, key="k"),  # began before 2 was acked
          Event("ok", 2, "read", [1], 8 * ms, key="k", meta={"siblings": True})]
    events = validate(sorted(ev, key=lambda e: e.time))
    run = RunFacts(tmp_path, {"options": {"mode": "dynamo", "workload": "register"},
                              "cluster": {"n": 3, "r": 1, "w": 1}}, {}, pair(events), [])
    cell = _sibling_k_staleness(run)
    assert cell.value == round(1 / 3, 6)
    assert "1 of 3 sibling reads missed a write" in cell.text and "PBS predicts ≤ 66.67%" in cell.text
