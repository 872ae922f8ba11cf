"""HAProxy's configuration rendered from the edge's desired state: pure, deterministic text.

Listeners (frontends) and their backends are structure: changing them needs a reload. Servers are
rendered too (those in rotation), so a reload or a restart comes back with them; in between, the
runtime API changes servers without touching this file's meaning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from mooring.network.mappings import PortMapping
from mooring.network.runtime_api import CHECK

_UNSAFE = re.compile(r"[^A-Za-z0-9_.:-]")


def safe(name: str) -> str:
    """A proxy or server name HAProxy accepts (letters, digits, ``_.:-``)."""
    return _UNSAFE.sub("_", name)


@dataclass(frozen=True)
class Server:
    name: str  # the instance id
    address: str
    port: int
    state: str = "ready"  # ready | drain | maint
    weight: int = 1  # HAProxy's 1-256: a weighted canary's share (upstreams.split_weights)
    check: bool = False  # its backend checks it (a route's health_path)


@dataclass
class Backend:
    name: str
    servers: dict[str, Server] = field(default_factory=dict)
    head: list[str] = field(default_factory=list)  # an HTTP backend's own lines; empty: TCP
    balance: str = "leastconn"  # roundrobin while a canary is weighted (leastconn ignores weights)

    def lines(self) -> list[str]:
        return self.head or [f"backend {self.name}", f"    balance {self.balance}"]

    def label(self) -> str:
        """The backend in the structure (leastconn unsaid: the structure of a plain one as before)."""
        return f"backend {self.name}" + (f" {self.balance}" if self.balance != "leastconn" else "")


@dataclass(frozen=True)
class Frontend:
    name: str
    mapping: PortMapping
    backend: str


@dataclass
class EdgeConfig:
    """What HAProxy should serve, with the paths of its sockets."""

    stats_socket: Path
    frontends: list[Frontend] = field(default_factory=list)
    backends: dict[str, Backend] = field(default_factory=dict)
    http: list[str] = field(default_factory=list)  # the shared HTTP(S) frontends (http_routes.py)
    listeners: list[PortMapping] = field(default_factory=list)  # the HTTP(S) ones
    # listeners HAProxy's master inherited as open sockets (network/held_sockets.py): ``bind fd@N``
    inherited: dict[PortMapping, int] = field(default_factory=dict)

    def structure(self) -> list[str]:
        """What only a reload can change: listeners, routes and backends (never servers)."""
        return (
            sorted(
                [f"frontend {f.name} {f.mapping.bind} {f.backend}" for f in self.frontends]
                + [b.label() for b in self.backends.values() if not b.head]
            )
            + [line for b in self.backends.values() for line in b.head]
            + self.http
        )

    @property
    def empty(self) -> bool:
        return not self.frontends and not self.http


def backend_name(app: str, service: str, port: int) -> str:
    return safe(f"{app}.{service}.{port}")


def frontend_name(app: str, service: str, mapping: PortMapping) -> str:
    return safe(f"{app}.{service}.{mapping.host or 'any'}_{mapping.host_port}")


def _inherit(line: str, config: EdgeConfig) -> str:
    """An HTTP(S) frontend's ``bind ADDRESS [ssl ...]`` as ``bind fd@N [ssl ...]`` when inherited."""
    words = line.split(" ")
    if line.startswith("    bind "):
        for m in config.listeners:
            if words[5] == m.bind and m in config.inherited:
                return " ".join([*words[:5], f"fd@{config.inherited[m]}", *words[6:]])
    return line


def render(config: EdgeConfig) -> str:
    lines = [
        "# Written by the mooring engine; changes here are overwritten (docs/network.md).",
        "global",
        # admin level for server changes; expose-fd lets a reloaded worker take the listeners over
        f"    stats socket {config.stats_socket} mode 600 level admin expose-fd listeners",
        "",
        "defaults",
        "    mode tcp",
        "    timeout connect 3s",
        # idle keep-alive connections are the clients' business; an hour bounds forgotten ones
        "    timeout client 1h",
        "    timeout server 1h",
        "    timeout client-fin 30s",
        "    timeout server-fin 30s",
        # an instance that refuses a connection (nothing sent yet) is skipped for another one
        "    retries 3",
        "    option redispatch 1",
        "",
    ]
    for f in sorted(config.frontends, key=lambda f: f.name):
        fd = config.inherited.get(f.mapping)
        bind = f.mapping.bind if fd is None else f"fd@{fd}"
        lines += [f"frontend {f.name}", f"    bind {bind}", f"    default_backend {f.backend}", ""]
    lines += [_inherit(line, config) for line in config.http]
    for name in sorted(config.backends):
        lines += config.backends[name].lines()
        for s in sorted(config.backends[name].servers.values(), key=lambda s: s.name):
            if s.state == "ready":  # the others are added at runtime in their state
                weight = f" weight {s.weight}" if s.weight != 1 else ""
                check = f" {CHECK}" if s.check else ""
                lines.append(f"    server {s.name} {s.address}:{s.port}{weight}{check}")
        lines.append("")
    return "\n".join(lines)
