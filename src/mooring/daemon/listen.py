"""The engine's optional TCP listener (``serve --listen``): address, TLS, and the refusal to expose plain HTTP.

Everything here is checked and bound before the engine starts, so a bad address, a port in use or an
unreadable certificate fails at once with a message, instead of after instances were adopted.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from mooring.errors import UsageError

LISTEN_HINT = "use HOST:PORT, e.g. 127.0.0.1:7878 or [::1]:7878 (0.0.0.0:7878 for every interface, with TLS)"


@dataclass(frozen=True)
class TcpListen:
    """A validated ``--listen`` setting."""

    host: str
    port: int
    tls_cert: Path | None = None
    tls_key: Path | None = None

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"


def parse_host_port(text: str, what: str = "--listen") -> tuple[str, int]:
    """``HOST:PORT`` or ``[V6]:PORT`` as (host, port); a clear UsageError otherwise."""
    value = text.strip()
    host, sep, port_text = value.rpartition(":")
    if value.startswith("["):
        inner, close, rest = value[1:].partition("]")
        host, sep, port_text = (inner, ":", rest[1:]) if close and rest.startswith(":") else ("", "", "")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise UsageError(
            f"{what} {text!r}: not a HOST:PORT address with a port from 1 to 65535", hint=LISTEN_HINT
        )
    return host, int(port_text)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


def tcp_listen(
    listen: str, tls_cert: str | None = None, tls_key: str | None = None, insecure: bool = False
) -> TcpListen:
    """Check ``serve``'s listener options; refuses plain HTTP beyond loopback unless ``insecure``."""
    host, port = parse_host_port(listen)
    if bool(tls_cert) != bool(tls_key):
        given, missing = ("--tls-cert", "--tls-key") if tls_cert else ("--tls-key", "--tls-cert")
        raise UsageError(
            f"{given} is set but {missing} is not: TLS needs both the certificate and its private key",
            hint="pass both (or MOORING_TLS_CERT and MOORING_TLS_KEY)",
        )
    cert = Path(tls_cert) if tls_cert else None
    key = Path(tls_key) if tls_key else None
    if cert is not None and key is not None:
        check_tls_files(cert, key)
    elif not is_loopback(host) and not insecure:
        raise UsageError(
            f"--listen {listen}: refusing to serve the API without TLS on a non-loopback address "
            "(bearer tokens would cross the network in clear text)",
            hint="add --tls-cert FILE --tls-key FILE, listen on 127.0.0.1, or pass --insecure if the "
            "network is trusted",
        )
    return TcpListen(host, port, cert, key)


def check_tls_files(cert: Path, key: Path) -> None:
    """Load the certificate and key once now, so that a bad pair fails before the engine starts."""
    for path, option in ((cert, "--tls-cert"), (key, "--tls-key")):
        if not path.is_file():
            raise UsageError(f"{option} {path}: no such file", hint="give the path of a PEM file")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        raise UsageError(
            f"--tls-cert {cert} / --tls-key {key}: cannot be used as a TLS certificate and key: {exc}",
            hint="both must be PEM; the key must match the certificate and not need a passphrase",
        ) from None


def bind_tcp(listen: TcpListen) -> socket.socket:
    """Bind and listen now; a port in use or an address not on this host is a clear error."""
    try:
        infos = socket.getaddrinfo(listen.host, listen.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise UsageError(f"--listen {listen.host}:{listen.port}: {exc.strerror}", hint=LISTEN_HINT) from None
    family, kind, proto, _, sockaddr = infos[0]
    # proto must be IPPROTO_TCP (not 0) for asyncio to set TCP_NODELAY on each accepted connection;
    # without it every answer written in two parts waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, kind, proto or socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind(sockaddr)
    except OSError as exc:
        sock.close()
        raise UsageError(
            f"cannot listen on {listen.host}:{listen.port}: {exc.strerror}",
            hint="another process may use the port (`ss -ltnp`), or the address is not on this host",
        ) from None
    sock.listen(256)
    sock.setblocking(False)
    return sock
