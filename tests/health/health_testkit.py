"""Helpers shared by the health tests: a bounded event-loop runner, real servers to probe, waits."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.kit import free_port as free_port  # re-exported: the health tests import them from here
from tests.kit import wait_until as wait_until

# Bound for one test's event loop; the suite as a whole must stay well under 30 s.
TEST_DEADLINE = 20.0

Runner = Callable[[Coroutine[Any, Any, Any]], Any]


def run_bounded(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine to completion in a fresh event loop, bounded so no test can hang."""

    async def bounded() -> Any:
        async with asyncio.timeout(TEST_DEADLINE):
            return await coroutine

    return asyncio.run(bounded())


@dataclass
class HealthApp:
    """What the test HTTP server answers; the test flips it while the prober runs."""

    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False
    release: threading.Event = field(default_factory=threading.Event)
    # (Host header, client port) of every request, in arrival order.
    requests: list[tuple[str | None, int]] = field(default_factory=list)
    port: int = 0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so the prober can reuse its connection
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        app: HealthApp = self.server.app  # type: ignore[attr-defined]
        app.requests.append((self.headers.get("Host"), self.client_address[1]))
        if app.hang:
            app.release.wait(TEST_DEADLINE)
        status, body, headers = app.status, app.body, dict(app.headers)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve_http() -> Iterator[HealthApp]:
    """A real threaded HTTP server on an ephemeral loopback port, answering what ``HealthApp`` says."""
    app = HealthApp()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.app = app  # type: ignore[attr-defined]
    app.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield app
    finally:
        app.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


class _CloseAtOnce(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()


@contextlib.asynccontextmanager
async def tcp_listener(port: int = 0) -> AsyncIterator[int]:
    """A TCP listener on loopback, on the running loop (no threads), that accepts and closes."""
    server = await asyncio.get_running_loop().create_server(
        _CloseAtOnce, "127.0.0.1", port, reuse_address=True
    )
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


@contextlib.asynccontextmanager
async def http_responders(count: int) -> AsyncIterator[list[int]]:
    """``count`` minimal keep-alive HTTP servers on the running loop (no threads), each answering 200."""
    writers: set[asyncio.StreamWriter] = set()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.add(writer)
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while True:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    servers = [await asyncio.start_server(answer, "127.0.0.1", 0) for _ in range(count)]
    try:
        yield [server.sockets[0].getsockname()[1] for server in servers]
    finally:
        for server in servers:
            server.close()
        for writer in writers:
            writer.close()
        for server in servers:
            await server.wait_closed()


def gone_or_zombie(pid: int) -> bool:
    """True once ``pid`` no longer runs (a zombie waits only for its new parent to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")
