"""The data plane outlives the engine: published ports keep answering across engine crashes,
stops and restarts, a hitless reload for a new listener, and a crash of HAProxy itself.

Two clients (keep-alive, and a new connection per request: tests/engine/test_zero_downtime.py)
hammer the published port for the whole of each disruption.
"""

from __future__ import annotations

import http.client
import os
import signal
import time
from pathlib import Path
from typing import Any

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


def test_a_killed_haproxy_is_restarted_counted_and_evented(mooring: Mooring, capsys: Any) -> None:
    port = free_port()
    start_app(mooring, manifest(port, replicas=2, strategy="rolling", parallelism=1))
    old = haproxy_pid(mooring.home)
    assert old is not None
    running = clients(port)
    try:
        killed = time.monotonic()
        os.killpg(old, signal.SIGKILL)  # the master and its worker
        wait_until(lambda: haproxy_pid(mooring.home) not in (None, old), what="the engine to restart HAProxy")
        wait_until(lambda: get_version(port) == "1", what="the port to answer again")
        gap = time.monotonic() - killed
        answers_more(running)
    finally:
        stop(running)
    failed = {("keep-alive" if c.keep_alive else "new connection"): len(c.failures) for c in running}
    with capsys.disabled():  # the number the issue asks to report
        print(f"\nHAProxy kill -9: port back after {gap:.2f}s; requests failed meanwhile: {failed}")
    # refused connections fail fast, so a tight loop counts many in a short gap: the gap is the bound
    assert gap < 5, f"HAProxy was restarted only after {gap:.2f}s"
    kinds = sorted({f.split(":")[0] for c in running for f in c.failures})
    with capsys.disabled():
        print(f"kinds of failure: {kinds}")
    assert _get(mooring, "/v1/edge")["restarts"] == 1
    assert "edge.restarted" in mooring.run("events", "--app", "zd", check=True).stdout
    assert get_version(port) == "1"


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
