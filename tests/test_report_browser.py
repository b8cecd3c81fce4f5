"""The report and the run browser in a real headless Chromium (Debian's ``chromium``), driven
over the Chrome DevTools protocol: pages load with no console error, the verdict is visible,
hovering an op shows its events, a 200,000-op report opens in under 3 s. Screenshots go to
``test-artifacts/`` for a person to look at."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from browsing import make_store, serving
from report_samples import EVIL, big_report, small_run
from splitbrain.reports import write_run_report
from system_packages import need

pytestmark = [pytest.mark.integration, pytest.mark.browser]

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--mute-audio",
         "--window-size=1280,900", "--remote-debugging-address=127.0.0.1",
         "--remote-debugging-port=0"]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A headless Chromium for this module; yields its DevTools HTTP port."""
    profile = tmp_path_factory.mktemp("chromium-profile")
    proc = subprocess.Popen([need("chromium"), *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            assert proc.poll() is None, "chromium exited at start"
            assert time.monotonic() < deadline, "chromium did not open its DevTools port"
            time.sleep(0.1)
        yield int(port_file.read_text().split()[0])
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


class Page:
    """One browser tab over the DevTools protocol: commands and the events they produce."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse):
        self.ws = ws
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    async def _read(self, timeout: float) -> dict[str, Any]:
        msg = await asyncio.wait_for(self.ws.receive_json(), timeout)
        if "method" in msg:
            self.events.append(msg)
        return msg

    async def send(self, method: str, timeout: float = 30, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        my_id = self.next_id
        await self.ws.send_json({"id": my_id, "method": method, "params": params})
        while True:
            msg = await self._read(timeout)
            if msg.get("id") == my_id:
                assert "error" not in msg, f"{method}: {msg['error']}"
                return msg["result"]

    async def wait_for(self, method: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for ev in self.events:
                if ev["method"] == method:
                    self.events.remove(ev)
                    return ev
            await self._read(max(deadline - time.monotonic(), 0.01))

    async def eval(self, expression: str) -> Any:
        r = await self.send("Runtime.evaluate", expression=expression, returnByValue=True,
                            awaitPromise=True)
        assert "exceptionDetails" not in r, r["exceptionDetails"]
        return r["result"].get("value")

    async def goto(self, url: str, timeout: float = 30) -> float:
        """Navigate and wait for the load event; returns the seconds it took."""
        self.events.clear()
        start = time.monotonic()
        await self.send("Page.navigate", url=url)
        await self.wait_for("Page.loadEventFired", timeout)
        return time.monotonic() - start

    def errors(self) -> list[str]:
        out = []
        for ev in self.events:
            p = ev["params"]
            if ev["method"] == "Runtime.exceptionThrown":
                out.append(json.dumps(p["exceptionDetails"])[:500])
            elif ev["method"] == "Runtime.consoleAPICalled" and p["type"] in ("error", "assert"):
                out.append(json.dumps(p["args"])[:500])
            elif ev["method"] == "Log.entryAdded" and p["entry"]["level"] == "error":
                out.append(p["entry"]["text"])
            elif ev["method"] == "Page.javascriptDialogOpening":
                out.append(f"a dialog opened: {p['message']}")
        return out

    async def screenshot(self, name: str, *, full: bool = False) -> Path:
        params: dict[str, Any] = {"format": "png"}
        if full:
            w, h = await self.eval("[document.documentElement.scrollWidth, "
                                   "document.documentElement.scrollHeight]")
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": w, "height": min(h, 6000), "scale": 1})
        shot = await self.send("Page.captureScreenshot", **params)
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / name
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


async def open_page(port: int) -> tuple[aiohttp.ClientSession, Page]:
    session = aiohttp.ClientSession()
    async with session.put(f"http://127.0.0.1:{port}/json/new?about:blank") as r:
        target = await r.json(content_type=None)
    page = Page(await session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0))
    for domain in ("Page", "Runtime", "Log"):
        await page.send(f"{domain}.enable")
    return session, page


def in_browser(port: int, scenario) -> Any:
    async def go():
        session, page = await open_page(port)
        try:
            return await scenario(page)
        finally:
            await page.ws.close()
            await session.close()

    return asyncio.run(go())


def test_report_loads_clean_shows_verdict_and_hover_details(browser, tmp_path):
    run = small_run(tmp_path / "run", evil=EVIL)
    report = write_run_report(run)

    async def scenario(page: Page):
        await page.goto(report.as_uri())
        badge, visible, colour = await page.eval(
            "(() => { const b = document.querySelector('header .badge');"
            " const r = b.getBoundingClientRect();"
            " return [b.innerText, r.width > 0 && r.top >= 0 && r.bottom <= innerHeight,"
            " getComputedStyle(document.querySelector('header')).backgroundColor]; })()")
        assert (badge, visible) == ("INVALID", True)
        assert colour == "rgb(207, 34, 46)"
        assert await page.eval("document.title.startsWith('INVALID')")
        await page.screenshot("report-top.png")
        x, y = await page.eval(
            "(() => { const b = document.querySelector('.bar.r-failing');"
            " b.scrollIntoView({block: 'center'}); const r = b.getBoundingClientRect();"
            " return [r.left + r.width / 2, r.top + r.height / 2]; })()")
        assert await page.eval("document.getElementById('tip').hidden")
        await page.send("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y)
        hidden, tip, highlighted = await page.eval(
            "(() => { const t = document.getElementById('tip');"
            " return [t.hidden, t.innerText,"
            " [...document.querySelectorAll('.steps tr.hl')].map(r => r.innerText)]; })()")
        assert not hidden
        assert "op 7" in tip and "cannot be placed" in tip and "after step 2, from state 2" in tip
        assert "states it could have seen" in tip and "register holds 2" in tip
        assert '"index": 8' in tip, "the completion event is shown in full"
        assert highlighted and "cannot be placed after state" in highlighted[0]
        await page.screenshot("report-hover.png")
        # the evil value shows as text in the tooltip of the lww write, and never ran
        x, y = await page.eval(
            "(() => { const b = document.querySelector('#checker-lww .bar[data-op=\"14\"]');"
            " b.scrollIntoView({block: 'center'}); const r = b.getBoundingClientRect();"
            " return [r.left + r.width / 2, r.top + r.height / 2]; })()")
        await page.send("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y)
        assert EVIL in await page.eval("document.getElementById('tip').innerText")
        await page.send("Input.dispatchMouseEvent", type="mouseMoved", x=5, y=5)
        assert await page.eval("document.getElementById('tip').hidden")
        await page.screenshot("report-full.png", full=True)
        await asyncio.sleep(0.2)
        await page.eval("1")  # drain any late console event
        assert page.errors() == []

    in_browser(browser, scenario)


def test_200k_op_report_is_small_and_opens_in_under_3_s(browser, tmp_path_factory):
    run, seconds_to_build = big_report(tmp_path_factory.getbasetemp())
    report = run / "report.html"
    assert report.stat().st_size < 1_000_000, "README promises under 1 MB"

    async def scenario(page: Page):
        took = await page.goto(report.as_uri())
        load_ms = await page.eval(
            "performance.getEntriesByType('navigation')[0].loadEventEnd")
        assert load_ms < 3000, f"the page took {load_ms:.0f} ms to load"
        assert took < 3, f"navigation to load took {took:.2f} s"
        assert await page.eval("document.querySelector('header .badge').innerText") == "INVALID"
        assert await page.eval("document.querySelectorAll('#performance svg path.dots').length") > 0
        await page.screenshot("report-200k.png")
        assert page.errors() == []

    in_browser(browser, scenario)


def test_run_browser_lists_runs_and_opens_a_report(browser, tmp_path):
    async def scenario(page: Page):
        await page.goto(f"http://127.0.0.1:{port}/")
        rows = await page.eval("[...document.querySelectorAll('tr.run')].map(r =>"
                               " [r.className, getComputedStyle(r.cells[0]).borderLeftColor])")
        assert rows == [["run not-checked", "rgb(209, 217, 224)"],
                        ["run valid", "rgb(26, 127, 55)"],
                        ["run invalid", "rgb(207, 34, 46)"]]
        await page.screenshot("browser.png")
        href = await page.eval("document.querySelector('tr.run.invalid a').href")
        await page.goto(href)
        assert await page.eval("document.querySelector('header .badge').innerText") == "INVALID"
        assert page.errors() == []

    with serving(make_store(tmp_path / "store")) as port:
        in_browser(browser, scenario)


def test_anomaly_types_can_be_filtered(browser, tmp_path):
    from splitbrain.checkers.result import Result, compose

    run = small_run(tmp_path / "run")
    mixed = Result(True, checker="session", anomalies=[
        {"type": "read-your-writes", "ops": [12, 18], "explanation": "p0 did not see its write"},
        {"type": "monotonic-reads", "ops": [18, 22], "explanation": "p2 went back in time"},
        {"type": "read-your-writes", "ops": [14, 22], "explanation": "p1 did not see its write"}])
    (run / "results.json").write_text(json.dumps(compose({"session": mixed}).to_dict()))
    report = write_run_report(run)

    async def scenario(page: Page):
        await page.goto(report.as_uri())
        shown = "[...document.querySelectorAll('#checker-session .anomaly')].filter(a => !a.hidden).length"
        assert await page.eval(shown) == 3
        await page.eval("document.querySelector('input[value=\"read-your-writes\"]').click()")
        assert await page.eval(shown) == 1
        await page.eval("document.querySelector('input[value=\"read-your-writes\"]').click()")
        assert await page.eval(shown) == 3
        assert page.errors() == []

    in_browser(browser, scenario)
