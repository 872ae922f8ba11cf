"""What one health check is: its kind, its target and its timing."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

ProbeKind = Literal["http", "tcp", "exec", "grpc"]


@dataclass(frozen=True)
class ProbeSpec:
    """One health check of one instance, already validated by the manifest and resolved to an address.

    ``interval``, ``timeout`` and ``start_period`` are seconds. ``env`` is added to (and overrides) the
    engine's environment for ``exec`` checks.
    """

    kind: ProbeKind
    host: str = "127.0.0.1"
    port: int | None = None
    path: str = "/"
    scheme: Literal["http", "https"] = "http"
    http_host: str | None = None
    expected_status: tuple[int, ...] | None = None
    command: tuple[str, ...] | None = None
    # Excluded from the hash only because mappings are unhashable; it still takes part in equality.
    env: Mapping[str, str] | None = field(default=None, hash=False)
    cwd: str | None = None
    container: str | None = None  # an exec check of a container instance runs inside this container
    grpc_service: str = ""
    interval: float = 10.0
    timeout: float = 5.0
    retries: int = 3
    start_period: float = 0.0

    def __post_init__(self) -> None:
        assert self.kind in ("http", "tcp", "exec", "grpc"), self.kind
        if self.kind in ("tcp", "grpc"):
            assert self.port is not None, f"{self.kind} check needs a port"
        if self.kind == "exec":
            assert self.command, "exec check needs a command"
        assert self.path.startswith("/"), self.path
        assert self.interval > 0 and self.timeout > 0, (self.interval, self.timeout)
        assert self.retries >= 1 and self.start_period >= 0, (self.retries, self.start_period)
        if self.env is not None:
            # A private read-only copy: a caller mutating its dict later must not change this spec.
            object.__setattr__(self, "env", MappingProxyType(dict(self.env)))

    @property
    def address(self) -> str:
        """``host:port`` as an operator would type it (IPv6 in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = self.port if self.port is not None else (443 if self.scheme == "https" else 80)
        return f"{host}:{port}"

    @property
    def url(self) -> str:
        """The URL an ``http`` check requests."""
        return f"{self.scheme}://{self.address}{self.path}"

    def describe(self) -> str:
        """A one-line summary of the check, for logs and ``status --explain``."""
        if self.kind == "http":
            return f"http GET {self.url}"
        if self.kind == "tcp":
            return f"tcp connect {self.address}"
        if self.kind == "grpc":
            service = self.grpc_service or "(server)"
            return f"grpc health {self.address} service {service}"
        return "exec " + shlex.join(self.command or ())
