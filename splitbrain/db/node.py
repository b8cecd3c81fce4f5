"""One node process: the real environment, the mode's store, the HTTP API, until SIGTERM.

``build_store(env)`` is the one place that maps a mode name to its :class:`Store` class.
``run_node(config_path, name)`` is what ``splitbrain node --config FILE --name NAME`` runs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import sys

import uvloop
from aiohttp import web

from splitbrain.db.api import Api
from splitbrain.db.config import ClusterConfig, ConfigError
from splitbrain.db.env import Env
from splitbrain.db.runtime import CorruptLog, FileStorage, OsClock, TcpTransport
from splitbrain.db.store import Store
from splitbrain.errors import TesterFailure

log = logging.getLogger("splitbrain.node")


def build_store(env: Env) -> Store:
    """The store of ``env.config.mode``. Mode modules are imported only when used."""
    mode = env.config.mode
    if mode in ("dynamo", "lww"):
        from splitbrain.db.dynamo import DynamoStore

        return DynamoStore(env)
    if mode == "dynamodb":
        from splitbrain.db.dynamodb import DynamoDBStore

        return DynamoDBStore(env)
    raise ConfigError(f"unknown mode {mode!r}")


def run_node(config_path: str, name: str) -> None:
    """Run node ``name`` of the cluster in ``config_path`` until SIGTERM or SIGINT.

    Raises :class:`TesterFailure` (exit 255) with one sentence when the config cannot be read,
    the node is not in it, its log is corrupt, or a port cannot be bound."""
    try:
        config = ClusterConfig.load(config_path)
        spec = config.node(name)
    except ConfigError as e:
        raise TesterFailure(str(e)) from None
    if not spec.data_dir:
        raise TesterFailure(f"node {name} has no data_dir in {config_path}; add one so it can "
                            f"store its data durably")
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format=f"%(asctime)s {name} %(levelname)s %(message)s")
    uvloop.run(_serve(config, name))


async def _serve(config: ClusterConfig, name: str) -> None:
    spec = config.node(name)
    try:
        storage = FileStorage(spec.data_dir)
    except OSError as e:
        raise TesterFailure(f"node {name} cannot open its data dir {spec.data_dir} "
                            f"({e.strerror}); check the path and its permissions") from None
    except CorruptLog as e:
        raise TesterFailure(f"node {name} will not start: {e}") from None
    transport = TcpTransport(name, config)
    env = Env(name=name, transport=transport, clock=OsClock(), storage=storage,
              rng=random.Random(int.from_bytes(os.urandom(8), "big")), config=config)
    store = build_store(env)
    runner = web.AppRunner(Api(store, env).app(), access_log=None, handle_signals=False)
    await runner.setup()
    started = False
    try:
        try:
            await transport.start()
        except OSError as e:
            raise TesterFailure(f"node {name} cannot bind its peer port {spec.peer_address} "
                                f"({e.strerror}); free the port or change the config") from None
        await store.start()
        started = True
        try:
            await web.TCPSite(runner, spec.host, spec.client_port, reuse_address=True).start()
        except OSError as e:
            raise TesterFailure(f"node {name} cannot bind its client port {spec.host}:"
                                f"{spec.client_port} ({e.strerror}); free the port or change "
                                f"the config") from None
        log.info("serving %s mode on %s (peers on %s)", config.mode, spec.client_url,
                 spec.peer_address)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("stopping")
    finally:
        await runner.cleanup()
        if started:
            await store.stop()
        await transport.close()
        await storage.drain()
        storage.close()
