"""``splitbrain serve``: the run listing, file serving, and the command itself."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import urllib.request

import pytest
from aiohttp.test_utils import TestClient, TestServer

from browsing import EVIL_NAME, make_store, serving
from html_page import Page
from splitbrain.reports.browser import Store, app


def fetch(store: Store, *paths: str) -> list[tuple[int, str, str]]:
    async def go():
        async with TestClient(TestServer(app(store))) as client:
            out = []
            for p in paths:
                r = await client.get(p, allow_redirects=False)
                out.append((r.status, r.headers.get("Content-Type", ""), await r.text()))
            return out

    return asyncio.run(go())


def test_listing_newest_first_with_verdicts_and_links(tmp_path):
    store = Store(make_store(tmp_path / "store"))
    [(status, ctype, html)] = fetch(store, "/")
    assert status == 200 and ctype.startswith("text/html")
    page = Page(html)
    rows = page.with_class("run")
    assert [r["class"] for r in rows] == ["run not-checked", "run valid", "run invalid"]
    assert EVIL_NAME not in html and EVIL_NAME in page.visible
    text = page.visible
    assert "lww register partition,kill 170 ms" in text
    hrefs = [a["href"] for t, a in page.elements if t == "a"]
    assert "/runs/register-lww/20261126T100000/report.html" in hrefs
    assert "/runs/register-lww/20261126T100000/nodes/n1.log" in hrefs
    assert "/runs/register-lww/20261126T100000/history.jsonl" in hrefs
    assert len({h for h in hrefs if h.endswith("/report.html")}) == 3, "latest is not listed twice"


def test_files_are_served_reports_built_on_demand_and_nothing_outside(tmp_path):
    root = make_store(tmp_path / "store")
    (tmp_path / "secret.txt").write_text("secret")
    store = Store(root)
    run = "/runs/register-lww/20261126T100000"
    got = fetch(store, f"{run}/report.html", f"{run}/history.jsonl", f"{run}/nodes/n1.log",
                f"{run}/missing.txt", "/runs/../secret.txt", "/runs/%2e%2e/secret.txt",
                "/runs/latest/../../secret.txt", run)
    report, history, log, missing, *escapes, redirect = got
    assert report[0] == 200 and "INVALID" in report[2]
    assert (root / "register-lww" / "20261126T100000" / "report.html").exists()
    assert history[0] == 200 and history[1].startswith("text/plain") and '"f":"write"' in history[2]
    assert log[0] == 200 and "started" in log[2]
    assert missing[0] == 404
    for status, _, body in escapes:
        assert status == 404 and "secret" not in body
    assert redirect[0] == 302


def test_a_run_with_a_torn_history_gets_a_sentence_not_a_crash(tmp_path):
    root = make_store(tmp_path / "store")
    run = root / "register-lww" / "20261126T120000"
    with open(run / "history.jsonl", "a") as f:
        f.write('{"type":"invoke","proc')  # the tester is still writing this line
    [(status, _, body), (listing, _, _)] = fetch(
        Store(root), "/runs/register-lww/20261126T120000/report.html", "/")
    assert status == 422 and "is not valid JSON" in body and listing == 200


@pytest.mark.integration
def test_bad_store_is_one_sentence_exit_254(tmp_path):
    p = subprocess.run([sys.executable, "-m", "splitbrain.cli", "serve", "--store",
                        str(tmp_path / "nope")], capture_output=True, text=True, timeout=60)
    assert p.returncode == 254
    assert "is not a directory" in p.stderr and "Traceback" not in p.stderr


@pytest.mark.integration
def test_a_port_in_use_is_one_sentence_exit_254(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        p = subprocess.run([sys.executable, "-m", "splitbrain.cli", "serve", "--store",
                            str(make_store(tmp_path / "store")), "--port", str(port)],
                           capture_output=True, text=True, timeout=60)
    assert p.returncode == 254, p.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in p.stderr and "pass another --port" in p.stderr
    assert "Traceback" not in p.stderr and p.stderr.count("\n") == 1


@pytest.mark.integration
def test_serve_command_serves_the_store_until_interrupted(tmp_path):
    with serving(make_store(tmp_path / "store")) as port:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as r:
            html = r.read().decode()
    assert "splitbrain runs" in html and "3 runs" in html
