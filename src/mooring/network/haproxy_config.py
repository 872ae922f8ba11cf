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


@dataclass
class Backend:
    name: str
    servers: dict[str, Server] = field(default_factory=dict)


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
    # listeners HAProxy's master inherited as open sockets (network/held_sockets.py): ``bind fd@N``
    inherited: dict[PortMapping, int] = field(default_factory=dict)

    def structure(self) -> list[str]:
        """What only a reload can change: listeners and backends (never servers)."""
        return sorted(
            [f"frontend {f.name} {f.mapping.bind} {f.backend}" for f in self.frontends]
            + [f"backend {b}" for b in self.backends]
        )


def backend_name(app: str, service: str, port: int) -> str:
    return safe(f"{app}.{service}.{port}")


def frontend_name(app: str, service: str, mapping: PortMapping) -> str:
    return safe(f"{app}.{service}.{mapping.host or 'any'}_{mapping.host_port}")


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
    for name in sorted(config.backends):
        lines += [f"backend {name}", "    balance leastconn"]
        for s in sorted(config.backends[name].servers.values(), key=lambda s: s.name):
            if s.state == "ready":  # the others are added at runtime in their state
                lines.append(f"    server {s.name} {s.address}:{s.port}")
        lines.append("")
    return "\n".join(lines)
