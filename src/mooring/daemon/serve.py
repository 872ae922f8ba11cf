"""``mooring serve``: build the engine, the API app, its auth and listeners, and run them in the
foreground: on a unix socket with mode 0600, and on TCP with ``--listen`` (bearer tokens, optional
TLS; see docs/remote.md).

SIGTERM or SIGINT stop the API and the engine's own tasks; instances keep running and the next
engine re-adopts them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp

from mooring.api.app import create_app
from mooring.api.auth import BearerAuth
from mooring.api.guards import AuditTrail, MaskResponses
from mooring.daemon import logsetup
from mooring.daemon.backups import start_scheduled_backups
from mooring.daemon.forward import LeaderForward, PeerAuth
from mooring.daemon.guard import BodyLimit, Gate, Limits, guarded
from mooring.daemon.listen import TcpListen, bind_tcp
from mooring.engine import Engine
from mooring.engine.cluster import cluster_config
from mooring.masking import MaskingFilter
from mooring.paths import ensure_home, secure_home

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


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals to ``serve_forever``, which stops every listener at once."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _server(app: ASGIApp, listen: TcpListen | None = None) -> _Server:
    """A server of ``app``; with ``listen`` (TCP, before authentication) its connections are bounded."""
    limits = Limits()
    config = uvicorn.Config(
        BodyLimit(app, limits.max_body) if listen else app,
        log_level="warning",
        lifespan="off",
        ws="none",  # no route is a websocket: uvicorn would import wsproto or websockets for nothing
        access_log=False,
        timeout_graceful_shutdown=2,
        ssl_certfile=str(listen.tls_cert) if listen and listen.tls_cert else None,
        ssl_keyfile=str(listen.tls_key) if listen and listen.tls_key else None,
        h11_max_incomplete_event_size=64 * 1024,  # a request head over 64 KiB is refused
    )
    if listen:
        config.load()
        config.http_protocol_class = guarded(config.http_protocol_class, Gate(limits))
    return _Server(config)


async def serve_forever(listen: TcpListen | None = None) -> None:
    """Serve the API on the unix socket and, with ``listen``, on TCP (bearer tokens, optional TLS)."""
    home = ensure_home()
    secure_home(home)  # a pre-created home or logs directory may be 0755: it holds secrets and output
    # Bind the TCP listener before the engine starts: a port in use fails fast, nothing adopted yet.
    tcp_sock = bind_tcp(listen) if listen else None
    cluster = cluster_config(home)
    engine = Engine(home, cluster=cluster, address=listen.address if listen else None)
    # A lone engine leads at once; in a cluster it serves as a follower until elected (docs/cluster.md).
    leading = asyncio.ensure_future(engine.lead())
    if cluster is None:
        await leading
    backups = start_scheduled_backups(home)
    app = create_app(engine)
    sock_path = home / "engine.sock"
    # The unix socket is trusted by its 0600 mode; the TCP listener answers only to a bearer token.
    # Both mask secret values in every answer and audit every change (api/guards.py). A follower
    # forwards what it does not answer itself to the leader, before auditing (the leader audits).
    local = LeaderForward(AuditTrail(MaskResponses(app), engine.store, "unix"), engine, trusted=True)
    servers = [(_server(local), [bind_unix_socket(sock_path)])]
    if listen and tcp_sock:
        guarded = BearerAuth(MaskResponses(app), engine.tokens, app_of_release=engine.app_of_release)
        # in a cluster, a follower forwards its unix socket's requests here, signed (daemon/forward.py)
        peers = PeerAuth(
            AuditTrail(guarded, engine.store, "tcp"),
            AuditTrail(MaskResponses(app), engine.store, "tcp"),
            engine,
        )
        servers.append((_server(LeaderForward(peers, engine), listen), [tcp_sock]))

    def stop(*_: object) -> None:
        for server, _sockets in servers:
            server.should_exit = True

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    where = f"{sock_path} and {listen.address}" if listen else str(sock_path)
    log.warning("mooring engine %s listening on %s (pid %d)", engine.version, where, os.getpid())
    try:
        tasks = [asyncio.ensure_future(server.serve(sockets=sockets)) for server, sockets in servers]
        # One listener ending (a signal, or a failure) ends them all: no half-served engine; so does
        # a failed start as leader.
        done, _ = await asyncio.wait([*tasks, leading], return_when=asyncio.FIRST_COMPLETED)
        if leading in done and not any(t.done() for t in tasks) and leading.exception() is None:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        stop()
        await asyncio.gather(*tasks)
        if not leading.done():
            leading.cancel()
            await asyncio.gather(leading, return_exceptions=True)
        elif leading.exception() is not None:
            log.error("the engine could not start as leader: %s", leading.exception())
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        if backups is not None:
            backups.cancel()
        await engine.shutdown()
        with contextlib.suppress(FileNotFoundError):
            sock_path.unlink()
        log.warning("mooring engine stopped; instances keep running")


def run(listen: TcpListen | None = None) -> None:
    logsetup.setup(ensure_home())  # rate-limited, and engine.log rotated by size
    for handler in logging.getLogger().handlers:  # the engine's log never shows a secret value
        handler.addFilter(MaskingFilter())
    asyncio.run(serve_forever(listen))
