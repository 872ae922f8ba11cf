"""``mooring serve``: the engine in the foreground, on a unix socket with mode 0600.

SIGTERM or SIGINT stop the API and the engine's own tasks; instances keep running and the next
engine re-adopts them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from pathlib import Path

import uvicorn

from mooring.paths import ensure_home

log = logging.getLogger("mooring.engine")


def bind_unix_socket(path: Path) -> socket.socket:
    """Bind the API socket with mode 0600 from the start (no window where others could connect)."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # a stale socket of a dead engine
    else:
        probe.close()
        raise SystemExit(f"another mooring engine already answers at {path}")
    finally:
        probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(str(path))
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    sock.listen(256)
    sock.setblocking(False)
    return sock


async def serve_forever() -> None:
    from mooring.api.app import create_app
    from mooring.engine.core import Engine

    home = ensure_home()
    engine = Engine(home)
    await engine.start()
    app = create_app(engine)
    sock_path = home / "engine.sock"
    sockets = [bind_unix_socket(sock_path)]
    config = uvicorn.Config(
        app, log_level="warning", lifespan="off", access_log=False, timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    log.warning("mooring engine %s listening on %s (pid %d)", engine.version, sock_path, os.getpid())
    try:
        await server.serve(sockets=sockets)
    finally:
        await engine.shutdown()
        with contextlib.suppress(FileNotFoundError):
            sock_path.unlink()
        log.warning("mooring engine stopped; instances keep running")


def run() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per probe is noise
    asyncio.run(serve_forever())
