"""Where a dependent reaches a service's published port: from the host, or from inside a container.

A process on the host reaches every published address (a wildcard one through 127.0.0.1). A
container reaches the host only through its network: ``host.docker.internal`` is mapped to the
host's gateway address on the container's bridge, so a port published on every address is
reachable there, a port published on a specific non-loopback address of the host is reachable at
that address, and one published on a loopback address is not reachable at all.
"""

from __future__ import annotations

import ipaddress

WILDCARDS = (None, "", "0.0.0.0", "::")
CONTAINER_HOST = "host.docker.internal"  # added to every container as the host gateway


def _join(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def container_address(host_ip: str | None, host_port: int) -> str | None:
    """``host:port`` for a container, or None when a container cannot reach it (loopback)."""
    if host_ip in WILDCARDS:
        return _join(CONTAINER_HOST, host_port)
    try:
        if ipaddress.ip_address(str(host_ip)).is_loopback:
            return None
    except ValueError:
        return None
    return _join(str(host_ip), host_port)
