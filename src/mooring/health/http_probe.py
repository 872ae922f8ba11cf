"""The ``http`` check: GET a path over a keep-alive client (one per origin) and judge the status code."""

from __future__ import annotations

import functools
import socket
import ssl
from typing import TYPE_CHECKING

from .connections import ConnectionCache
from .result import Outcome, connect_failure, one_line, timed_out
from .spec import ProbeSpec

if TYPE_CHECKING:
    import httpx

# httpx (with the rich and pygments it pulls in, ~5 MiB resident) is imported by the first client
# made: an engine without http checks never loads it.

# Enough of the body for a useful detail without reading an endless stream.
_BODY_LIMIT = 4096
# Idle connections outlive the default 10 s interval, so steady probing reuses them.
_KEEPALIVE_EXPIRY = 30.0


def new_http_client() -> httpx.AsyncClient:
    """A client for ``http`` checks: keep-alive, TCP_NODELAY, no redirects, no proxies.

    Without TCP_NODELAY a keep-alive probe can stall ~40 ms on Nagle plus delayed ACK. Certificates
    are not verified (as Kubernetes does for HTTPS probes): the target is our own instance, often
    with a self-signed certificate. ``trust_env=False`` keeps ``HTTP_PROXY`` from routing probes away.
    """
    import httpx

    transport = httpx.AsyncHTTPTransport(
        verify=_unverified_tls(),
        retries=0,
        limits=httpx.Limits(
            max_connections=None, max_keepalive_connections=None, keepalive_expiry=_KEEPALIVE_EXPIRY
        ),
        socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
    )
    return httpx.AsyncClient(
        transport=transport,
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": "mooring-health", "Accept": "*/*"},
    )


def new_http_clients() -> ConnectionCache[httpx.AsyncClient]:
    """One client per origin (see ``http_origin``).

    Not one client for all: httpcore's pool does work quadratic in its connection count on every
    request, so a single pool holding a keep-alive connection to each of 300 instances took a whole
    core and seconds per probe round; a pool per origin holds one connection or a few.
    """
    return ConnectionCache(lambda _origin: new_http_client(), lambda client: client.aclose())


def http_origin(spec: ProbeSpec) -> str:
    """The key that decides which client (and so which keep-alive connections) a check uses."""
    return f"{spec.scheme}://{spec.address}"


@functools.cache
def _unverified_tls() -> ssl.SSLContext:
    """One TLS context for every client: building one per client costs ten times the client itself."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def probe_http(spec: ProbeSpec, client: httpx.AsyncClient) -> Outcome:
    """GET ``spec.url``; healthy when the status is in ``expected_status`` (default: any 2xx)."""
    import httpx  # loaded with the client already: a dictionary look-up

    headers = {"Host": spec.http_host} if spec.http_host else None
    request = client.build_request("GET", spec.url, headers=headers, timeout=spec.timeout)
    try:
        response = await client.send(request, stream=True)
        try:
            body = await _read_head_of_body(response)
        finally:
            await response.aclose()
    except httpx.TimeoutException:
        return Outcome(False, timed_out(spec.timeout))
    except httpx.ConnectError as exc:
        return Outcome(False, connect_failure(exc, spec.address))
    except httpx.HTTPError as exc:
        return Outcome(False, f"HTTP request to {spec.address} failed: {str(exc) or type(exc).__name__}")

    code = response.status_code
    ok = code in spec.expected_status if spec.expected_status else 200 <= code < 300
    return Outcome(ok, f"HTTP {code}" if ok else _failure_detail(spec, response, body), status_code=code)


async def _read_head_of_body(response: httpx.Response) -> bytes:
    """Up to ``_BODY_LIMIT`` bytes of the body; a body read to its end keeps the connection reusable."""
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) >= _BODY_LIMIT:
            break
    return bytes(body[:_BODY_LIMIT])


def _failure_detail(spec: ProbeSpec, response: httpx.Response, body: bytes) -> str:
    """``HTTP 503: <start of body>``, with the redirect target or the expected codes when they help."""
    code = response.status_code
    detail = f"HTTP {code}"
    location = response.headers.get("location")
    if 300 <= code < 400 and location:
        detail += f" (redirect to {location})"
    if spec.expected_status:
        detail += " (expected " + ", ".join(map(str, spec.expected_status)) + ")"
    text = one_line(body, tail=False)
    return f"{detail}: {text}" if text else detail
