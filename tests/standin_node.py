"""A stand-in for ``splitbrain node`` in the harness tests: the node's admin API (health,
status with a gossip view of its peers, clock offset) and a heartbeat on every peer link, so
that cluster control and the networks can be tested without the real store.

Run as ``python tests/standin_node.py --config FILE --name NAME``. Each node sends its name
every 0.1 s over a TCP connection it opens to every peer's route (``peer_routes`` honoured), and
reports a peer ``down`` after 0.6 s without hearing from it. With ``--fail`` it exits 1 at once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from aiohttp import web

HEARTBEAT, DOWN_AFTER = 0.1, 0.6


async def main(config_path: str, name: str) -> None:
    config = json.loads(open(config_path).read())
    nodes = {n["name"]: n for n in config["nodes"]}
    me = nodes[name]
    heard: dict[str, float] = {}
    offset = [0.0]

    async def on_peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            heard[line.decode().strip()] = time.monotonic()
        writer.close()

    async def beat(peer: str) -> None:
        route = config.get("peer_routes", {}).get(name, {}).get(peer)
        host, port = (route.rsplit(":", 1) if route else (nodes[peer]["host"],
                                                          nodes[peer]["peer_port"]))
        while True:
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 1)
                while True:
                    writer.write(f"{name}\n".encode())
                    await asyncio.wait_for(writer.drain(), 1)
                    await asyncio.sleep(HEARTBEAT)
            except (OSError, asyncio.TimeoutError):
                await asyncio.sleep(HEARTBEAT)

    def members() -> dict[str, str]:
        now = time.monotonic()
        return {p: "up" if now - heard.get(p, -1e9) < DOWN_AFTER else "down"
                for p in nodes if p != name}

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"ok": True, "name": name, "mode": config["mode"]})

    async def status(_: web.Request) -> web.Response:
        return web.json_response({"name": name, "mode": config["mode"],
                                  "clock_offset": offset[0], "members": members()})

    async def clock(request: web.Request) -> web.Response:
        offset[0] = float((await request.json())["offset"])
        return web.json_response({"offset": offset[0]})

    await asyncio.start_server(on_peer, me["host"], me["peer_port"])
    app = web.Application()
    app.add_routes([web.get("/health", health), web.get("/admin/status", status),
                    web.put("/admin/clock", clock)])
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, me["host"], me["client_port"]).start()
    await asyncio.gather(*(beat(p) for p in nodes if p != name), asyncio.Event().wait())


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--fail", action="store_true")
    args = parser.parse_args()
    if args.fail:
        print("stand-in node: asked to fail", file=sys.stderr)
        sys.exit(1)
    asyncio.run(main(args.config, args.name))
