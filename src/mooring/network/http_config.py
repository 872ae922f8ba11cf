"""The HTTP part of the edge's HAProxy config, from the routes the edge holds: pure.

One HTTP frontend for every app's routes; an HTTPS one for the routes with ``tls`` (the fallback
certificate first, then the crt-list of the hosts that have one); a backend per (app, service,
port) with the service's instances as servers, answering the maintenance page when the app is in
maintenance.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from mooring.network.haproxy_config import Backend, EdgeConfig, Server
from mooring.network.http_routes import (
    HTTP_FRONTEND,
    HTTPS_FRONTEND,
    backend_lines,
    fixed_backends,
    frontend_lines,
    http_backend_name,
)
from mooring.network.mappings import PortMapping
from mooring.network.upstreams import Route


def http_config(
    config: EdgeConfig,
    routes: Mapping[tuple[str, str], Route],
    maintenance: Mapping[str, str],
    listen: tuple[PortMapping, PortMapping],
    tls_files: tuple[Path, Path, Path],
    ready: set[str],
) -> None:
    """Add the HTTP(S) frontends and backends to ``config``.

    ``tls_files``: the challenge map, the fallback certificate and the crt-list; ``ready``: hosts
    that have a certificate (an HTTPS redirect waits for one).
    """
    rules = [r for _, route in sorted(routes.items()) for r in route.http]
    http, https = listen
    challenges, fallback, crt_list = tls_files
    config.listeners.append(http)
    config.http += frontend_lines(HTTP_FRONTEND, http.bind, rules, False, challenges, ready)
    secure = [r for r in rules if r.tls]
    if secure:
        config.listeners.append(https)
        config.http += [f"# certificates: {' '.join(sorted(ready))}"]  # a host's first one: a reload
        bind = f"{https.bind} ssl crt {fallback} crt-list {crt_list}"
        config.http += frontend_lines(HTTPS_FRONTEND, bind, secure, True, None, ready)
    for (app, service), route in sorted(routes.items()):
        for port in sorted({r.port for r in route.http}):
            name = http_backend_name(app, service, port)
            # routes to one port share the upstream set; the manifest gives them one health_path
            checked = next((r.health_path for r in route.http if r.port == port and r.health_path), None)
            head = backend_lines(name, maintenance.get(app), route.balance, checked)
            backend = Backend(name, head=head)
            weights = route.weights()
            for iid, u in route.members.items():
                backend.servers[iid] = Server(
                    iid, u.host, u.ports.get(port, port), u.state, weights.get(iid, 1), checked is not None
                )
            config.backends[name] = backend
    config.http += fixed_backends()
