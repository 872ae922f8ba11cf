"""TLS on the edge's HTTPS listener, on a real HAProxy and a real Pebble: an ACME certificate issued
over HTTP-01 answered by the edge, trusted through Pebble's root, renewed and swapped in without a
failed request; the redirect to HTTPS; certificates from files; an ACME failure leaves HTTP serving."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from mooring.network import Edge
from mooring.network.http_routes import HttpRule
from tests.network.http_kit import HttpBackend, aget, served_by
from tests.network.kit import edge_on, free_port, run, until
from tests.network.pebble_kit import Pebble, pebble, self_signed

HOST = "shop.example.com"


@dataclass
class Ports:
    http: int
    https: int


@pytest.fixture
def ports(monkeypatch: pytest.MonkeyPatch) -> Ports:
    p = Ports(free_port(), free_port())
    monkeypatch.setenv("MOORING_HTTP_LISTEN", f"127.0.0.1:{p.http}")
    monkeypatch.setenv("MOORING_HTTPS_LISTEN", f"127.0.0.1:{p.https}")
    monkeypatch.setenv("MOORING_ACME_RETRY_AFTER", "1s")
    return p


@pytest.fixture
def acme(tmp_path: Path, ports: Ports, monkeypatch: pytest.MonkeyPatch) -> Any:
    with pebble(tmp_path / "pebble", ports.http) as server:
        monkeypatch.setenv("MOORING_ACME_DIRECTORY", server.directory)
        monkeypatch.setenv("MOORING_ACME_CA_BUNDLE", str(server.ca_bundle))
        yield server


class SniConnection(http.client.HTTPSConnection):
    """HTTPS to the edge on loopback, asking for ``name`` (SNI and Host) as a browser would."""

    def __init__(self, name: str, port: int, context: ssl.SSLContext) -> None:
        super().__init__("127.0.0.1", port, context=context, timeout=10)
        self.name = name
        self.tls_context = context

    def connect(self) -> None:
        sock = socket.create_connection(("127.0.0.1", self.port), self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = self.tls_context.wrap_socket(sock, server_hostname=self.name)


def trusting(root_pem: str) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=root_pem)
    return context


def https_get(port: int, context: ssl.SSLContext, name: str = HOST, path: str = "/") -> tuple[int, str, int]:
    """(status, body, serial of the certificate served)."""
    conn = SniConnection(name, port, context)
    try:
        conn.request("GET", path, headers={"Host": name})
        assert conn.sock is not None
        der = conn.sock.getpeercert(binary_form=True)
        serial = x509.load_der_x509_certificate(der).serial_number if der else 0
        reply = conn.getresponse()
        body = reply.read().decode()
        return reply.status, body, serial
    finally:
        conn.close()


async def routed(edge: Edge, backend: HttpBackend, **tls: Any) -> None:
    await edge.route_http("shop", "web", [HttpRule("shop", "web", HOST, "/", 80, **tls)])
    edge.admit("shop", "web", backend.name, "127.0.0.1", {80: backend.port})
    await edge.sync()


async def certificate(edge: Edge, changed_from: str | None = None) -> dict[str, Any]:
    async def issued() -> bool:
        status = edge.tls.status(HOST) or {}
        return status.get("serial") not in (None, changed_from)

    await until(issued, "a certificate from pebble", timeout=60)
    status = edge.tls.status(HOST)
    assert status is not None
    return status


async def served(port: int, context: ssl.SSLContext, serial: str) -> None:
    """Wait until HAProxy serves the certificate (a host's first one comes in with a reload)."""

    async def serving() -> bool:
        try:
            return format((await asyncio.to_thread(https_get, port, context))[2], "x") == serial
        except ssl.SSLError:
            return False

    await until(serving, f"HAProxy to serve certificate {serial}")


def test_an_acme_certificate_is_issued_served_trusted_and_redirected_to(
    tmp_path: Path, ports: Ports, acme: Pebble
) -> None:
    async def body() -> None:
        edge = await edge_on(tmp_path / "home")
        try:
            backend = await HttpBackend("shop").start()
            await routed(edge, backend, tls="acme", https_redirect=True)
            status = await certificate(edge)
            assert (
                "Pebble" in status["issuer"] and status["last_error"] is None and status["source"] == "acme"
            )
            context = trusting(acme.root())
            await served(ports.https, context, status["serial"])
            code, text, serial = await asyncio.to_thread(https_get, ports.https, context, HOST, "/cart")
            assert code == 200 and json.loads(text)["name"] == "shop"
            assert format(serial, "x") == status["serial"]
            assert json.loads(text)["headers"]["x-forwarded-proto"] == "https"

            async def redirecting() -> bool:
                return (await aget(ports.http, HOST, "/cart?x=1"))[0] == 308

            await until(redirecting, "plain HTTP to redirect once the certificate is there")
            _, headers, _ = await aget(ports.http, HOST, "/cart?x=1")
            assert headers["location"] == f"https://{HOST}/cart?x=1"
            key = edge.tls.store.path(HOST)
            assert key.stat().st_mode & 0o777 == 0o600
            assert "PRIVATE KEY" not in json.dumps(edge.info())
        finally:
            await edge.stop()

    run(body)


@dataclass(eq=False)
class HttpsLoad(threading.Thread):
    """GET / over HTTPS in a tight loop (keep-alive or a new TLS connection each time)."""

    port: int
    context: ssl.SSLContext
    keep_alive: bool
    answers: int = 0
    serials: set[int] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        threading.Thread.__init__(self, daemon=True)

    def run(self) -> None:
        conn: SniConnection | None = None
        while not self.stop.is_set():
            fresh = conn is None
            if conn is None:
                conn = SniConnection(HOST, self.port, self.context)
            try:
                headers = {"Host": HOST} if self.keep_alive else {"Host": HOST, "Connection": "close"}
                conn.request("GET", "/", headers=headers)
                if fresh and conn.sock is not None:
                    der = conn.sock.getpeercert(binary_form=True)
                    if der:
                        self.serials.add(x509.load_der_x509_certificate(der).serial_number)
                reply = conn.getresponse()
                reply.read()
                if reply.status != 200:
                    self.failures.append(f"HTTP {reply.status}")
                self.answers += 1
                if not self.keep_alive or reply.will_close:
                    conn.close()
                    conn = None
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                conn.close()
                conn = None
                if fresh:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                conn = None
                self.failures.append(f"{type(exc).__name__}: {exc}")
        if conn is not None:
            conn.close()


def test_renewal_swaps_the_certificate_in_without_a_failed_request(
    tmp_path: Path, ports: Ports, acme: Pebble, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOORING_ACME_RENEW_BEFORE", "36500d")  # always due: renewed at every check
    monkeypatch.setenv("MOORING_ACME_CHECK_EVERY", "2s")

    async def body() -> None:
        edge = await edge_on(tmp_path / "home")
        try:
            backend = await HttpBackend("shop").start()
            await routed(edge, backend, tls="acme")
            first = await certificate(edge)
            context = trusting(acme.root())
            await served(ports.https, context, first["serial"])
            load = [HttpsLoad(ports.https, context, keep_alive=k) for k in (True, False)]
            for t in load:
                t.start()
            try:
                second = await certificate(edge, changed_from=first["serial"])
                third = await certificate(edge, changed_from=second["serial"])

                async def seen() -> bool:
                    return (
                        int(third["serial"], 16) in load[1].serials
                        or (edge.tls.status(HOST) or {}).get("serial") != third["serial"]
                    )

                await until(seen, "a new connection to get the renewed certificate", timeout=30)
            finally:
                for t in load:
                    t.stop.set()
                for t in load:
                    await asyncio.to_thread(t.join, 15)
            for t in load:
                assert t.failures == [], f"{t.failures[:5]} of {t.answers}"
                assert t.answers > 20
            assert len(load[1].serials) >= 2  # new connections saw the renewed certificates
            assert edge.info()["pid"] is not None
        finally:
            await edge.stop()

    run(body)


def test_an_acme_failure_leaves_plain_http_serving_and_says_why(
    tmp_path: Path, ports: Ports, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOORING_ACME_DIRECTORY", f"https://127.0.0.1:{free_port()}/dir")  # nothing there

    async def body() -> None:
        edge = await edge_on(tmp_path / "home")
        try:
            backend = await HttpBackend("shop").start()
            await routed(edge, backend, tls="acme", https_redirect=True)

            async def failed() -> bool:
                return bool((edge.tls.status(HOST) or {}).get("last_error"))

            await until(failed, "the ACME error to be recorded", timeout=30)
            status = edge.tls.status(HOST)
            assert status is not None and status["not_after"] is None
            assert "Connection" in status["last_error"] or "refused" in status["last_error"]
            assert served_by(await aget(ports.http, HOST)) == "shop"  # no redirect to a missing certificate
        finally:
            await edge.stop()

    run(body)


def test_a_certificate_from_files_is_served(tmp_path: Path, ports: Ports) -> None:
    async def body() -> None:
        cert, key = self_signed(tmp_path, HOST)
        edge = await edge_on(tmp_path / "home")
        try:
            backend = await HttpBackend("shop").start()
            await routed(edge, backend, tls="files", cert=str(cert), key=str(key), https_redirect=True)
            context = trusting(cert.read_text())
            code, text, _ = await asyncio.to_thread(https_get, ports.https, context)
            assert code == 200 and json.loads(text)["name"] == "shop"
            status = edge.tls.status(HOST)
            assert status is not None and status["source"] == "files" and HOST in status["issuer"]
            assert (await aget(ports.http, HOST))[0] == 308
        finally:
            await edge.stop()

    run(body)
