"""HTTP routes of a service: which requests of the edge's shared HTTP(S) listener reach it.

A route is a hostname (``*.example.com`` matches one more label) and a path prefix; the edge
(docs/network.md, "HTTP routes") sends matching requests to the service's ready instances on the
route's instance-side ``port``. Cross-app conflicts are the engine's to find: one manifest sees one app.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator

from mooring.manifest.errors import Issue
from mooring.manifest.fields import Frozen

_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
HOST_PATTERN = rf"^(\*\.)?{_LABEL}(\.{_LABEL})*$"
_HOST = re.compile(HOST_PATTERN)
_PATH = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$")


class TlsFiles(Frozen):
    """A certificate and its private key, PEM files on the engine's host."""

    cert: str = Field(min_length=1)
    key: str = Field(min_length=1)


class HttpRoute(Frozen):
    """``[[service.NAME.route]]``: requests for ``host`` under ``path`` go to the service."""

    host: str
    path: str = "/"
    port: int | None = Field(default=None, ge=1, le=65535)  # None: the service's first declared port
    # "acme": a certificate issued and renewed over ACME HTTP-01; a table: PEM files; absent: HTTP only
    tls: Literal["acme"] | TlsFiles | None = None
    https_redirect: bool = False  # plain HTTP answers 308 to the https:// URL (needs tls)
    # HAProxy checks each upstream server with GET health_path: one failing it gets none of the traffic
    health_path: str | None = None

    @field_validator("health_path")
    @classmethod
    def _valid_health_path(cls, value: str | None) -> str | None:
        if value is not None and (not _PATH.match(value) or "//" in value):
            raise ValueError(f'{value!r} is not a path; write it as "/health" (no query, no spaces)')
        return value

    @field_validator("host")
    @classmethod
    def _valid_host(cls, value: str) -> str:
        host = value.strip().lower().rstrip(".")
        if not _HOST.match(host):
            raise ValueError(
                f"{value!r} is not a hostname; write it as shop.example.com, or *.example.com for every "
                "name one label below example.com (no scheme, port or path)"
            )
        return host

    @field_validator("path")
    @classmethod
    def _valid_path(cls, value: str) -> str:
        if not _PATH.match(value) or "//" in value:
            raise ValueError(
                f'{value!r} is not a path prefix; write it as "/" or "/api" (no query, no spaces)'
            )
        return value.rstrip("/") or "/"  # "/api/" and "/api" are the same prefix


def route_issues(file: str, services: dict[str, Any]) -> list[Issue]:
    """Each route's port is declared, https_redirect has TLS, and no two routes share host and path."""
    issues: list[Issue] = []
    owner: dict[tuple[str, str], str] = {}
    for name, service in services.items():
        declared = [p.port for p in service.ports]
        checked: dict[int | None, str] = {}  # routes to one port share their upstream set, and its check
        for i, route in enumerate(service.route):
            where = f"service.{name}.route[{i}]"
            if route.health_path is not None:
                port = route.port if route.port is not None else (declared[0] if declared else None)
                other = checked.setdefault(port, route.health_path)
                if other != route.health_path:
                    issues.append(
                        Issue(
                            file,
                            f"{where}.health_path",
                            f"routes to one port share one set of upstream servers, checked with "
                            f"{other!r} by an earlier route",
                            f'give every route of service.{name} to this port health_path = "{other}"',
                        )
                    )
            if route.port is None and not declared:
                issues.append(
                    Issue(
                        file,
                        f"{where}.port",
                        "the service declares no port for the route to reach",
                        f'add ports = ["8000"] to [service.{name}] or port = 8000 to the route',
                    )
                )
            elif route.port is not None and declared and route.port not in declared:
                issues.append(
                    Issue(
                        file,
                        f"{where}.port",
                        f"port {route.port} is not one of the service's ports {declared}",
                        f'add "{route.port}" to service.{name}.ports',
                    )
                )
            if route.https_redirect and route.tls is None:
                issues.append(
                    Issue(
                        file,
                        f"{where}.https_redirect",
                        "redirects to HTTPS but the route has no certificate",
                        'add tls = "acme" or tls = { cert = "...", key = "..." } to the route',
                    )
                )
            if route.tls == "acme" and route.host.startswith("*."):
                issues.append(
                    Issue(
                        file,
                        f"{where}.tls",
                        "a wildcard name cannot get a certificate over ACME HTTP-01 (only DNS-01 can)",
                        'give the certificate as files: tls = { cert = "...", key = "..." }',
                    )
                )
            key = (route.host, route.path)
            if key in owner:
                issues.append(
                    Issue(
                        file,
                        f"{where}",
                        f"host {route.host} path {route.path} is already routed by {owner[key]}",
                        "give one of them another host or path",
                    )
                )
            owner.setdefault(key, where)
    return issues
