"""Published ports as the manifest states them, and the error when one cannot be published."""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass
from typing import Any


class PublishError(Exception):
    """A published port could not be served; the message names the port, the service and what to do."""


@dataclass(frozen=True)
class PortMapping:
    """``[host:]host_port:port`` of the manifest; ``host`` None means every address."""

    host: str | None
    host_port: int
    port: int

    @property
    def label(self) -> str:
        host = self.host or "*"
        return f"[{host}]:{self.host_port}" if ":" in host else f"{host}:{self.host_port}"

    @property
    def bind(self) -> str:
        """The address as HAProxy's ``bind`` takes it (``ipv6@`` so ``::`` is read as one address)."""
        if self.host is None:
            return f":{self.host_port}"
        return f"ipv6@[{self.host}]:{self.host_port}" if ":" in self.host else f"{self.host}:{self.host_port}"


def mappings_of(service: dict[str, Any]) -> list[PortMapping]:
    """The published ``ports`` entries of a snapshot's service (a bare ``"PORT"`` publishes nothing)."""
    return [
        PortMapping(p["host_ip"] or None, int(p["host_port"]), int(p["port"]))
        for p in service.get("ports", [])
        if p.get("host_port") is not None
    ]


def check_free(mapping: PortMapping, app: str, service: str) -> None:
    """Bind and release the address, so a port in use fails with its name before HAProxy tries it.

    SO_REUSEADDR as HAProxy binds (a port in TIME_WAIT is free); another process listening is not.
    """
    family = socket.AF_INET6 if mapping.host and ":" in mapping.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(
                (mapping.host or ("::" if family == socket.AF_INET6 else "0.0.0.0"), mapping.host_port)
            )
        except OSError as exc:
            why = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
            raise PublishError(
                f"cannot publish port {mapping.label} of service {service} (app {app}): {why}; "
                f"stop what listens there (ss -ltnp 'sport = :{mapping.host_port}') or change "
                f"service.{service}.ports in mooring.toml"
            ) from None
