"""The http probe against a real HTTP server on a loopback port."""

from __future__ import annotations

import socket
import time
from typing import Any

from mooring.health import ProbeSpec, probe_once
from mooring.health.http_probe import new_http_client

from .health_testkit import HealthApp, Runner, free_port


def http_spec(app: HealthApp, **kwargs: Any) -> ProbeSpec:
    return ProbeSpec("http", port=app.port, path="/healthz", **kwargs)


def test_2xx_is_healthy(run: Runner, http_app: HealthApp) -> None:
    result = run(probe_once(http_spec(http_app)))
    assert (result.ok, result.detail, result.status_code) == (True, "HTTP 200", 200)
    assert result.latency_ms > 0 and abs(result.at - time.time()) < 5


def test_5xx_is_unhealthy_with_the_start_of_the_body(run: Runner, http_app: HealthApp) -> None:
    http_app.status, http_app.body = 503, b"database\nunreachable"
    result = run(probe_once(http_spec(http_app)))
    assert (result.ok, result.detail, result.status_code) == (False, "HTTP 503: database unreachable", 503)


def test_expected_status_replaces_the_2xx_rule(run: Runner, http_app: HealthApp) -> None:
    http_app.status, http_app.body = 204, b""
    result = run(probe_once(http_spec(http_app, expected_status=(200,))))
    assert (result.ok, result.detail) == (False, "HTTP 204 (expected 200)")
    http_app.status = 418
    assert run(probe_once(http_spec(http_app, expected_status=(200, 418)))).ok


def test_redirects_are_not_followed_and_fail_unless_expected(run: Runner, http_app: HealthApp) -> None:
    http_app.status, http_app.body, http_app.headers = 302, b"", {"Location": "/login"}
    result = run(probe_once(http_spec(http_app)))
    assert (result.ok, result.detail) == (False, "HTTP 302 (redirect to /login)")
    assert run(probe_once(http_spec(http_app, expected_status=(302,)))).ok
    assert len(http_app.requests) == 2  # /login was never requested


def test_host_header_is_sent(run: Runner, http_app: HealthApp) -> None:
    run(probe_once(http_spec(http_app, http_host="web.example")))
    run(probe_once(http_spec(http_app)))
    assert [host for host, _ in http_app.requests] == ["web.example", f"127.0.0.1:{http_app.port}"]


def test_a_hanging_server_times_out_within_the_timeout(run: Runner, http_app: HealthApp) -> None:
    http_app.hang = True
    result = run(probe_once(http_spec(http_app, timeout=0.3)))
    assert (result.ok, result.detail, result.status_code) == (False, "timed out after 300ms", None)
    assert 250 <= result.latency_ms < 2000


def test_nothing_listening_is_connection_refused(run: Runner) -> None:
    port = free_port()
    result = run(probe_once(ProbeSpec("http", port=port)))
    assert (result.ok, result.detail) == (False, f"connection refused to 127.0.0.1:{port}")


def test_shared_client_keeps_the_connection_alive_with_tcp_nodelay(run: Runner, http_app: HealthApp) -> None:
    async def probe_five_times() -> list[int]:
        async with new_http_client() as client:
            for _ in range(5):
                assert (await probe_once(http_spec(http_app), http_client=client)).ok
            return nodelay_flags(client)

    flags = run(probe_five_times())
    assert len({port for _, port in http_app.requests}) == 1  # one connection served all five
    assert flags == [1]


def nodelay_flags(client: Any) -> list[int]:
    """TCP_NODELAY of each pooled connection's socket (reaches into httpcore's pool: no public API)."""
    flags = []
    for connection in client._transport._pool.connections:
        stream = connection._connection._network_stream
        sock = stream.get_extra_info("socket")
        flags.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
    return flags
