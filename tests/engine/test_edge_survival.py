"""The data plane outlives the engine: published ports keep answering across engine crashes,
stops and restarts, a hitless reload for a new listener, and a crash of HAProxy itself.

Two clients (keep-alive, and a new connection per request: tests/engine/test_zero_downtime.py)
hammer the published port for the whole of each disruption.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from tests.engine.conftest import Mooring, free_port, haproxy_pid, wait_until
from tests.engine.releases_kit import _get
from tests.engine.test_zero_downtime import clients, get_version, manifest, start_app, stop, up


def assert_no_failures(running: list[Any]) -> None:
    for c in running:
        kind = "keep-alive" if c.keep_alive else "new connection per request"
        assert c.failures == [], f"{kind}: {len(c.failures)} failed of {len(c.versions)}: {c.failures[:5]}"


def answers_more(running: list[Any], extra: int = 50) -> None:
    for c in running:
        n = len(c.versions)
        wait_until(lambda c=c, n=n: len(c.versions) > n + extra, what="more answers")


def restart_engine(mooring: Mooring, sig: int) -> None:
    pid = mooring.engine_pid()
    assert pid is not None
    os.kill(pid, sig)
    wait_until(lambda: mooring.engine_pid() is None, what="the engine to end")


def test_engine_kill_and_sigterm_never_fail_a_request(mooring: Mooring) -> None:
    port = free_port()
    start_app(mooring, manifest(port, replicas=2, strategy="rolling", parallelism=1))
    edge_pid = haproxy_pid(mooring.home)
    ids = {r["id"] for r in mooring.ps("zd")}
    running = clients(port)
    try:
        for sig in (signal.SIGKILL, signal.SIGTERM):
            restart_engine(mooring, sig)
            answers_more(running)  # no engine at all: HAProxy serves on
            assert {r["id"] for r in mooring.ps("zd")} == ids  # a new engine adopts everything
            answers_more(running)
    finally:
        stop(running)
    assert_no_failures(running)
    assert haproxy_pid(mooring.home) == edge_pid  # adopted, never restarted
    edge = _get(mooring, "/v1/edge")
    assert edge["pid"] == edge_pid and edge["restarts"] == 0
    svc = _get(mooring, "/v1/apps/zd/proxy")["services"][0]
    assert {i["id"] for i in svc["instances"]} == ids and svc["counters"]["connections"] > 100


def test_a_second_published_port_is_added_without_failing_a_request(mooring: Mooring) -> None:
    port, second = free_port(), free_port()
    start_app(mooring, manifest(port, replicas=2, strategy="rolling", parallelism=1))
    edge_pid = haproxy_pid(mooring.home)
    running = clients(port)
    try:
        extra = f"""
[service.api]
command = ["python3", "keepalive.py"]
ports = ["127.0.0.1:{second}:8000"]
"""
        mooring.write(
            "mooring.toml", manifest(port, replicas=2, strategy="rolling", parallelism=1, extra=extra)
        )
        code, rel = up(mooring, V="1")
        assert code == 0, rel["message"]
        assert get_version(second) == "1"
        answers_more(running)
    finally:
        stop(running)
    assert_no_failures(running)
    assert haproxy_pid(mooring.home) == edge_pid  # a reload, not a restart
    assert _get(mooring, "/v1/edge")["listeners"] == sorted([f"127.0.0.1:{port}", f"127.0.0.1:{second}"])


@pytest.mark.parametrize("engine", ["started it", "adopted it"])
def test_a_killed_haproxy_fails_only_the_requests_in_flight(
    mooring: Mooring, capsys: Any, engine: str
) -> None:
    """The engine holds HAProxy's listening sockets (network/held_sockets.py), also after adopting a
    HAProxy it did not start: while HAProxy is down, connections wait in the backlog, never refused;
    only the request each client had in flight at the kill is lost."""
    port = free_port()
    start_app(mooring, manifest(port, replicas=2, strategy="rolling", parallelism=1))
    if engine == "adopted it":
        restart_engine(mooring, signal.SIGKILL)
        mooring.ps("zd")  # a new engine adopted HAProxy
    old = haproxy_pid(mooring.home)
    assert old is not None
    running = clients(port)
    try:
        answers_more(running)
        killed = time.monotonic()
        os.killpg(old, signal.SIGKILL)  # the master and its worker
        wait_until(lambda: haproxy_pid(mooring.home) not in (None, old), what="the engine to restart HAProxy")
        wait_until(lambda: get_version(port) == "1", what="the port to answer again")
        gap = time.monotonic() - killed
        answers_more(running)
    finally:
        stop(running)
    failed = {("keep-alive" if c.keep_alive else "new connection"): len(c.failures) for c in running}
    kinds = sorted({f.split(":")[0] for c in running for f in c.failures})
    with capsys.disabled():  # the number the issue asks to report
        print(f"\nHAProxy kill -9 ({engine}): back after {gap:.2f}s; failed: {failed}; kinds: {kinds}")
    assert gap < 5, f"HAProxy was restarted only after {gap:.2f}s"
    assert not any("Refused" in k for k in kinds), f"a connection was refused while HAProxy was down: {kinds}"
    assert all(n <= 1 for n in failed.values()), f"more than the request in flight failed: {failed}"
    assert _get(mooring, "/v1/edge")["restarts"] == 1
    assert "edge.restarted" in mooring.run("events", "--app", "zd", check=True).stdout
    assert get_version(port) == "1"


def test_a_port_unpublished_after_a_haproxy_restart_refuses_connections(mooring: Mooring) -> None:
    """HAProxy's master keeps the sockets it inherited until it exits: a port removed from it must
    still stop accepting at once, not queue connections that nobody will ever accept."""
    port, second = free_port(), free_port()
    extra = f"""
[service.api]
command = ["python3", "keepalive.py"]
ports = ["127.0.0.1:{second}:8000"]
"""
    start_app(mooring, manifest(port, replicas=1, strategy="rolling", parallelism=1, extra=extra))
    old = haproxy_pid(mooring.home)
    assert old is not None
    os.killpg(old, signal.SIGKILL)  # the restarted HAProxy inherits both listeners
    wait_until(lambda: haproxy_pid(mooring.home) not in (None, old), what="the engine to restart HAProxy")
    wait_until(lambda: get_version(second) == "1", what="the second port to answer again")
    mooring.write("mooring.toml", manifest(port, replicas=1, strategy="rolling", parallelism=1))
    code, rel = up(mooring, V="1")
    assert code == 0, rel["message"]
    assert get_version(port) == "1"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", second), timeout=5).close()
    # and the port can be published again
    mooring.write("mooring.toml", manifest(port, replicas=1, strategy="rolling", parallelism=1, extra=extra))
    code, rel = up(mooring, V="1")
    assert code == 0, rel["message"]
    assert get_version(second) == "1"


def test_down_of_the_last_app_stops_haproxy(mooring: Mooring, tmp_path: Path) -> None:
    port = free_port()
    start_app(mooring, manifest(port, replicas=1, strategy="rolling", parallelism=1))
    pid = haproxy_pid(mooring.home)
    assert pid is not None
    mooring.run("down", "--app", "zd", check=True)
    wait_until(lambda: haproxy_pid(mooring.home) is None, what="HAProxy to stop")
    try:
        http.client.HTTPConnection("127.0.0.1", port, timeout=5).request("GET", "/")
        raise AssertionError("the published port still answers after down")
    except ConnectionRefusedError:
        pass
