"""Pure rules of remote access: which scope a request needs, how refusals read, which addresses are safe."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mooring.api.auth import Refusal, authorize, scope_needed
from mooring.client.remote import remote_engine
from mooring.daemon.listen import parse_host_port, tcp_listen
from mooring.errors import UsageError
from mooring.store.tokens import ApiToken
from tests.engine.conftest import free_port

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def token(scope: str, revoked: bool = False) -> ApiToken:
    return ApiToken("a1b2c3d4e5f6", "ci", scope, NOW, None, NOW if revoked else None)


@pytest.mark.parametrize(
    ("method", "path", "needed"),
    [
        ("GET", "/v1/instances", "read"),
        ("GET", "/v1/releases/abc/wait", "read"),
        ("GET", "/openapi.json", "read"),
        ("POST", "/v1/apps/shop/releases", "write"),
        ("POST", "/v1/apps/shop/rollout/pause", "write"),
        ("POST", "/v1/apps/shop/down", "write"),
        ("POST", "/v1/apps/shop/plan", "read"),  # a dry run reads only
        ("POST", "/v1/apps/shop/plan/x", "write"),
        ("GET", "/v1/tokens", "admin"),
        ("POST", "/v1/tokens/ci/revoke", "admin"),
        ("GET", "/v1/tokensmith", "read"),
    ],
)
def test_scope_needed(method: str, path: str, needed: str) -> None:
    assert scope_needed(method, path) == needed


def test_scopes_nest_read_write_admin() -> None:
    def allowed(scope: str, method: str, path: str) -> bool:
        return not isinstance(authorize("Bearer s", method, path, lambda _: token(scope)), Refusal)

    assert [allowed(s, "GET", "/v1/instances") for s in ("read", "write", "admin")] == [True, True, True]
    assert [allowed(s, "POST", "/v1/apps/x/releases") for s in ("read", "write", "admin")] == [
        False,
        True,
        True,
    ]
    assert [allowed(s, "GET", "/v1/tokens") for s in ("read", "write", "admin")] == [False, False, True]


def test_refusals_say_missing_unrecognised_revoked_or_which_scope() -> None:
    missing = authorize(None, "GET", "/v1/instances", lambda _: None)
    assert isinstance(missing, Refusal) and missing.status == 401 and "none was sent" in missing.message
    assert "mooring token create" in missing.hint
    basic = authorize("Basic dXNlcg==", "GET", "/v1/instances", lambda _: None)
    assert isinstance(basic, Refusal) and "Bearer <token>" in basic.message
    unknown = authorize("Bearer nope", "GET", "/v1/instances", lambda _: None)
    assert isinstance(unknown, Refusal) and unknown.status == 401 and "not recognised" in unknown.message
    revoked = authorize("Bearer s", "GET", "/v1/instances", lambda _: token("admin", revoked=True))
    assert isinstance(revoked, Refusal) and revoked.status == 401
    assert "'ci' (id a1b2c3d4e5f6) was revoked at 2026-11-26T12:00:00+00:00" in revoked.message
    small = authorize("Bearer s", "POST", "/v1/apps/shop/releases", lambda _: token("read"))
    assert isinstance(small, Refusal) and (small.status, small.code) == (403, "forbidden")
    assert small.message == (
        "token 'ci' (id a1b2c3d4e5f6) has scope read; POST /v1/apps/shop/releases needs scope write"
    )
    assert "--scope write" in small.hint


def test_listen_addresses_parse_or_fail_clearly() -> None:
    assert parse_host_port("127.0.0.1:7878") == ("127.0.0.1", 7878)
    assert parse_host_port("[::1]:7878") == ("::1", 7878)
    assert parse_host_port("localhost:1") == ("localhost", 1)
    for bad in ("7878", "host:", ":7878", "host:http", "host:70000", "[::1]7878"):
        with pytest.raises(UsageError, match="not a HOST:PORT address"):
            parse_host_port(bad)


def test_plain_http_beyond_loopback_is_refused_unless_insecure() -> None:
    assert tcp_listen("127.0.0.1:7878").host == "127.0.0.1"
    assert tcp_listen("[::1]:7878").address == "http://[::1]:7878"
    with pytest.raises(
        UsageError, match="refusing to serve the API without TLS on a non-loopback"
    ) as refused:
        tcp_listen("0.0.0.0:7878")
    assert "--tls-cert" in str(refused.value) and "--insecure" in str(refused.value)
    assert tcp_listen("0.0.0.0:7878", insecure=True).host == "0.0.0.0"
    with pytest.raises(UsageError, match="--tls-cert is set but --tls-key is not"):
        tcp_listen("0.0.0.0:7878", tls_cert="/etc/hostname")
    with pytest.raises(UsageError, match=r"--tls-cert /nonexistent/cert\.pem: no such file"):
        tcp_listen("0.0.0.0:7878", tls_cert="/nonexistent/cert.pem", tls_key="/nonexistent/key.pem")


def test_server_addresses_select_plain_http_or_tls() -> None:
    plain = remote_engine("127.0.0.1:7878", env={"MOORING_TOKEN": "t"})
    assert (plain.base_url, plain.tls, plain.headers()) == (
        "http://127.0.0.1:7878",
        False,
        {"Authorization": "Bearer t"},
    )
    assert remote_engine("https://engine.example:8443", env={}).tls
    with_ca = remote_engine("engine.example:8443", env={"MOORING_CA_CERT": "/ca.pem"})
    assert with_ca.base_url == "https://engine.example:8443" and with_ca.ca_file == "/ca.pem"
    assert remote_engine("[::1]:7878", env={}).headers() == {}
    assert remote_engine("[::1]:7878", env={}).base_url == "http://[::1]:7878"
    assert remote_engine("http://engine.example:80/", env={}).base_url == "http://engine.example:80"
    with pytest.raises(UsageError, match="plain http but MOORING_CA_CERT is set"):
        remote_engine("http://h:1", env={"MOORING_CA_CERT": "/ca.pem"})
    for bad in ("engine.example", "ftp://h:1", "h:1/v1/x", "h:0", "h:65536", "[::1]", ":7878"):
        with pytest.raises(UsageError, match="--server"):
            remote_engine(bad, env={})


def test_the_tcp_listener_is_bound_so_that_asyncio_sets_tcp_nodelay() -> None:
    """asyncio sets TCP_NODELAY on accepted connections only when the socket's proto is IPPROTO_TCP;
    without it each answer waited ~40 ms for a delayed ACK (measured: 44 ms vs 1.3 ms per GET)."""
    import socket

    from mooring.daemon.listen import bind_tcp

    sock = bind_tcp(tcp_listen(f"127.0.0.1:{free_port()}"))
    try:
        assert sock.proto == socket.IPPROTO_TCP
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        sock.close()
