"""How the client reaches a remote engine: address, TLS trust and token, from --server and the environment.

``--server HOST:PORT`` (or ``MOORING_SERVER``) is plain HTTP, ``https://HOST:PORT`` is TLS verified
against the system's CAs, and ``MOORING_CA_CERT=FILE`` trusts that CA (or self-signed certificate)
instead and implies https. The bearer token comes from ``MOORING_TOKEN``.
"""

from __future__ import annotations

import os
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from mooring.errors import UsageError

TOKEN_ENV = "MOORING_TOKEN"
CA_ENV = "MOORING_CA_CERT"
SERVER_HINT = "use --server HOST:PORT, https://HOST:PORT for TLS (or set MOORING_SERVER)"

# A silently dead connection (peer gone, network cut) is noticed after ~60 s instead of never:
# reads themselves have no timeout, since long polls and `logs -f` wait as long as they need.
KEEPALIVE = [
    (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1),
    (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),
    *(
        [
            (socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 30),
            (socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 10),
            (socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3),
        ]
        if hasattr(socket, "TCP_KEEPIDLE")
        else []
    ),
]


@dataclass(frozen=True)
class RemoteEngine:
    """A remote engine's base URL and what to present to it."""

    base_url: str
    token: str | None
    ca_file: str | None

    @property
    def tls(self) -> bool:
        return self.base_url.startswith("https://")

    def transport(self) -> httpx.HTTPTransport:
        return httpx.HTTPTransport(verify=self.verify(), socket_options=KEEPALIVE)

    def verify(self) -> ssl.SSLContext | bool:
        if not self.tls:
            return False
        context = ssl.create_default_context()
        if self.ca_file:
            try:
                context = ssl.create_default_context(cafile=self.ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise UsageError(
                    f"{CA_ENV}={self.ca_file}: cannot be read as PEM CA certificates: {exc}",
                    hint="point it at the CA (or self-signed) certificate the engine's --tls-cert was issued by",
                ) from None
        return context

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


def remote_engine(server: str, env: Mapping[str, str] = os.environ) -> RemoteEngine:
    """The engine named by ``server`` (``HOST:PORT``, ``http://HOST:PORT`` or ``https://HOST:PORT``)."""
    ca_file = env.get(CA_ENV) or None
    text = server.strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = ("https" if ca_file else "http"), text
    if scheme not in ("http", "https") or not rest or "/" in rest.rstrip("/"):
        raise UsageError(f"--server {server!r}: not an engine address", hint=SERVER_HINT)
    if scheme == "http" and ca_file:
        raise UsageError(
            f"--server {server!r} is plain http but {CA_ENV} is set",
            hint="use https://HOST:PORT for TLS, or unset MOORING_CA_CERT",
        )
    host, port = _host_port(rest.rstrip("/"))
    if not host or port is None:
        raise UsageError(f"--server {server!r}: not HOST:PORT with a port from 1 to 65535", hint=SERVER_HINT)
    base_url = f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}"
    return RemoteEngine(base_url=base_url, token=env.get(TOKEN_ENV) or None, ca_file=ca_file)


def _host_port(text: str) -> tuple[str, int | None]:
    """``HOST:PORT`` or ``[V6]:PORT``; (host, None) when the port is missing or out of range."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port_text = text.rpartition(":")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        return host, None
    return host, int(port_text)
