"""``splitbrain serve``: a small web page listing the runs in a store, newest first, with their
verdict, mode, workload, faults and duration, and links to each run's report and files.

The listing reads only what is cheap: test.json, the verdict of results.json (cached by
modification time), and the last line of history.jsonl for the duration. Files are served from
inside the store only; a missing report.html is built on first request.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from splitbrain.errors import BadInput
from splitbrain.history import HistoryError
from splitbrain.reports import write_run_report
from splitbrain.reports.html import asset, environment, fact_text, test_options
from splitbrain.reports.text import seconds, verdict_word

RUN_FILES = ("report.html", "junit.xml", "history.jsonl", "results.json", "test.json")
TEXT_TYPES = {".jsonl": "text/plain", ".log": "text/plain", ".json": "application/json",
              ".xml": "application/xml", ".html": "text/html"}


@dataclass
class RunSummary:
    """One run of the store as the listing shows it; ``path`` is relative to the store."""

    path: str
    test: str
    stamp: str
    started: float
    verdict: str
    mode: str = ""
    workload: str = ""
    faults: str = ""
    duration: str = ""
    files: list[str] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    problem: str = ""

    @property
    def when(self) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))


def _stamp_time(stamp: str, fallback: float) -> float:
    try:
        return time.mktime(time.strptime(stamp.split("-")[0], "%Y%m%dT%H%M%S"))
    except ValueError:
        return fallback


def _last_time(history: Path) -> float | None:
    """The ``time`` of the last event of a history, reading only its tail."""
    try:
        with open(history, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(f.tell() - 4096, 0))
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            t = json.loads(line).get("time")
        except (ValueError, AttributeError):
            continue
        if isinstance(t, (int, float)):
            return float(t)
    return None


class Store:
    """The runs under a store directory (``<store>/<test>/<stamp>/``)."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise BadInput(f"the store {root} is not a directory; pass --store with the "
                           f"directory 'splitbrain test --store' wrote to.")
        self._verdicts: dict[Path, tuple[float, Any]] = {}

    def _verdict(self, results: Path) -> Any:
        mtime = results.stat().st_mtime
        cached = self._verdicts.get(results)
        if cached is None or cached[0] != mtime:
            cached = (mtime, json.loads(results.read_text(encoding="utf-8")).get("valid"))
            self._verdicts[results] = cached
        return cached[1]

    def summary(self, run_dir: Path) -> RunSummary:
        s = RunSummary(path=run_dir.relative_to(self.root).as_posix(),
                       test=run_dir.parent.name, stamp=run_dir.name,
                       started=_stamp_time(run_dir.name, run_dir.stat().st_mtime),
                       verdict="not checked")
        try:
            if (run_dir / "results.json").is_file():
                s.verdict = verdict_word(self._verdict(run_dir / "results.json"))
            opts = (test_options(json.loads((run_dir / "test.json").read_text(encoding="utf-8")))
                    if (run_dir / "test.json").is_file() else {})
        except (OSError, ValueError, AttributeError) as e:
            s.verdict, s.problem, opts = "unknown", f"unreadable run files ({e})", {}
        s.mode = fact_text(opts.get("mode", ""))
        s.workload = fact_text(opts.get("workload", ""))
        s.faults = fact_text(opts.get("nemesis", ""))
        if isinstance(opts.get("duration"), (int, float)):
            s.duration = seconds(opts["duration"] * 1e9)
        elif (end := _last_time(run_dir / "history.jsonl")) is not None:
            s.duration = seconds(end)
        s.files = [n for n in RUN_FILES if (run_dir / n).is_file() or
                   (n == "report.html" and (run_dir / "history.jsonl").is_file())]
        s.logs = sorted(p.name for p in (run_dir / "nodes").glob("*.log")) \
            if (run_dir / "nodes").is_dir() else []
        return s

    def runs(self) -> list[RunSummary]:
        """Every run, newest first. ``latest`` and other symlinks are skipped (they point at
        runs listed under their own test)."""
        found = []
        for test_dir in self.root.iterdir():
            if test_dir.is_symlink() or not test_dir.is_dir():
                continue
            for run_dir in test_dir.iterdir():
                if not run_dir.is_symlink() and run_dir.is_dir() and (
                        (run_dir / "history.jsonl").is_file() or (run_dir / "test.json").is_file()):
                    found.append(self.summary(run_dir))
        return sorted(found, key=lambda r: (r.started, r.stamp), reverse=True)

    def file(self, rel: str) -> Path:
        """The store file at ``rel``; HTTPNotFound for anything outside the store or missing.
        A run's report.html is built when it is first asked for."""
        path = (self.root / rel).resolve()
        if not path.is_relative_to(self.root):
            raise web.HTTPNotFound()
        if path.is_dir() and (path / "history.jsonl").is_file():
            raise web.HTTPFound(f"/runs/{path.relative_to(self.root).as_posix()}/report.html")
        if path.name == "report.html" and not path.exists() and \
                (path.parent / "history.jsonl").is_file():
            write_run_report(path.parent)
        if not path.is_file():
            raise web.HTTPNotFound()
        return path


def app(store: Store) -> web.Application:
    """The aiohttp application: ``/`` lists runs, ``/runs/<test>/<stamp>/<file>`` serves them."""

    async def index(request: web.Request) -> web.Response:
        page = environment().get_template("browser.html.j2").render(
            store=str(store.root), runs=store.runs(), css=asset("report.css"))
        return web.Response(text=page, content_type="text/html")

    async def run_file(request: web.Request) -> web.StreamResponse:
        try:  # in a thread: building a missing report of a long run takes seconds
            path = await asyncio.to_thread(store.file, request.match_info["rel"])
        except (BadInput, HistoryError) as e:  # e.g. a run still writing its history
            raise web.HTTPUnprocessableEntity(text=f"splitbrain: {e}") from None
        ctype = TEXT_TYPES.get(path.suffix, "application/octet-stream")
        return web.FileResponse(path, headers={"Content-Type": f"{ctype}; charset=utf-8"})

    application = web.Application()
    application.router.add_get("/", index)
    application.router.add_get("/runs/{rel:.+}", run_file)
    return application


def serve(store_dir: str | os.PathLike, port: int, *, host: str = "127.0.0.1") -> None:
    """Serve the browser until interrupted, first printing the URL with the port actually bound
    (``port`` 0 lets the system pick a free one). BadInput when the store is not a directory or
    the port cannot be bound."""
    store = Store(store_dir)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp's own sites do
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise BadInput(f"cannot listen on {host}:{port} ({e.strerror}); pass another --port.") \
            from None
    bound = sock.getsockname()[1]
    with sock:
        web.run_app(app(store), sock=sock, print=lambda _: print(
            f"splitbrain: browsing {store.root} at http://{host}:{bound}/ (Ctrl-C to stop)",
            flush=True))
