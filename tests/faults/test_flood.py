"""Bounded resources before authentication (issue 17, item 3): 20,000 unauthenticated connections to
`serve --listen` leave the unix socket answering, the log small, and the engine recovers after."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from tests.engine.conftest import Mooring, free_port, wait_until

CONNECTIONS = 20_000


@pytest.fixture
def served(mooring: Mooring) -> Iterator[tuple[Mooring, int]]:
    """`mooring serve --listen` with its output in engine.log, as the CLI starts the engine."""
    port = free_port()
    mooring.home.mkdir(parents=True, exist_ok=True)
    with open(mooring.home / "engine.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mooring", "serve", "--listen", f"127.0.0.1:{port}"],
            env=mooring.env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    try:
        wait_until(lambda: (mooring.home / "engine.sock").exists(), timeout=30, what="the engine socket")
        yield mooring, port
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _unix_get(mooring: Mooring, path: str) -> float:
    """Seconds for the engine to answer ``path`` on its unix socket."""
    transport = httpx.HTTPTransport(uds=str(mooring.home / "engine.sock"))
    began = time.monotonic()
    with httpx.Client(transport=transport, base_url="http://mooring", timeout=10) as client:
        assert client.get(path).status_code == 200
    return time.monotonic() - began


FLOODER = """
import errno, os, socket, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
socks = []
for i in range(count):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    s.connect_ex(("127.0.0.1", port))
    if i % 2:  # half send a request head that never ends (slowloris)
        try:
            s.send(b"GET /v1/instances HTTP/1.1\\r\\nHost: x\\r\\n")
        except OSError:
            pass
    socks.append(s)
print(len(socks), flush=True)
sys.stdin.read()  # hold them until the test lets go
"""
PER_FLOODER = 10_000  # each process stays under its descriptor limit


@contextmanager
def flood(port: int, count: int) -> Iterator[None]:
    """``count`` unauthenticated connections held open by helper processes until the block ends."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", FLOODER, str(port), str(min(PER_FLOODER, count - n))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(0, count, PER_FLOODER)
    ]
    try:
        opened = sum(int(p.stdout.readline()) for p in procs if p.stdout is not None)
        assert opened == count
        yield
    finally:
        for p in procs:
            if p.stdin is not None:
                p.stdin.close()
        for p in procs:
            p.wait(60)


def test_20000_unauthenticated_connections_do_not_starve_the_engine(served: tuple[Mooring, int]) -> None:
    mooring, port = served
    mooring.write("mooring.toml", '[app]\nname = "flood"\n[service.web]\ncommand = "sleep 600"\n')
    mooring.run("up", check=True)
    began = time.monotonic()
    mooring.run("ps", check=True, timeout=30)
    quiet = time.monotonic() - began  # the CLI's own start-up, on this machine at this moment
    with flood(port, CONNECTIONS):
        worst = max(_unix_get(mooring, "/v1/instances") for _ in range(10))
        assert worst < 1.0, f"the unix socket answered in {worst:.2f}s during the flood"
        began = time.monotonic()
        ps = mooring.run("ps", timeout=30)
        assert ps.returncode == 0, ps.stderr
        took = time.monotonic() - began
        # the engine's part is the unix-socket figure above; the CLI's start-up is the machine's
        assert took < max(5.0, 2 * quiet + 2.0), (
            f"`mooring ps` took {took:.2f}s during the flood, {quiet:.2f}s before it"
        )
        # whatever it accepted is bounded, and half-open heads are closed after the header timeout
        pid = _engine_pid(mooring)
        wait_until(
            lambda: len(os.listdir(f"/proc/{pid}/fd")) < 400, timeout=30, what="the engine to hold < 400 fds"
        )
        assert _unix_get(mooring, "/v1/engine") < 1.0
    size = sum(p.stat().st_size for p in mooring.home.glob("engine.log*"))
    assert size < 10 * 1024 * 1024, f"engine.log grew to {size} bytes"
    # it recovers: a TCP client is answered again (401 without a token, at once)
    reply = wait_until(lambda: _tcp_status(port) == 401, timeout=20, what="TCP answers again")
    assert reply


def _tcp_status(port: int) -> int | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/v1/engine", timeout=3).status_code
    except httpx.HTTPError:
        return None


def _engine_pid(mooring: Mooring) -> int:
    pid = mooring.engine_pid()
    assert pid
    return pid
