"""Published ports: one listener per ``ports`` entry, each forwarding to the service's upstream set.

The engine publishes a service's ports before its first instance starts (so a port in use fails
the target, not the app), admits an instance once it passed its readiness gate, and withdraws it
(no new connections, open ones drain up to a deadline) before stopping it.
"""

from __future__ import annotations

import asyncio
import errno
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mooring.network.relay import ClientSide, Relay, ServerSide
from mooring.network.upstreams import Balance, Upstream, UpstreamSet

log = logging.getLogger("mooring.network")
CONNECT_TIMEOUT = 3.0


class PublishError(Exception):
    """A published port could not be bound; the message names the port, the service and what to do."""


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


@dataclass
class Listener:
    mapping: PortMapping
    server: asyncio.Server


@dataclass
class Route:
    """A service's listeners and the instances they forward to."""

    app: str
    service: str
    upstreams: UpstreamSet
    listeners: dict[PortMapping, Listener] = field(default_factory=dict)
    binding: asyncio.Lock = field(default_factory=asyncio.Lock)  # instances of a batch start together

    def view(self) -> dict[str, Any]:
        first = next(iter(self.listeners), None)
        declared = first.port if first else None
        return {
            "service": self.service,
            "listeners": [
                {"address": m.label, "port": m.port} for m in sorted(self.listeners, key=lambda m: m.label)
            ],
            "balance": self.upstreams.balance.value,
            "counters": self.upstreams.counters.to_dict(),
            "instances": [u.view(declared) for u in self.upstreams.members.values()],
        }


class Proxy:
    """All published ports of the engine."""

    def __init__(self, balance: Balance = Balance.LEAST_CONNECTIONS) -> None:
        self.balance = balance
        self.routes: dict[tuple[str, str], Route] = {}
        self._route_of: dict[str, Route] = {}  # instance id -> its service's route

    def route(self, app: str, service: str) -> Route:
        key = (app, service)
        if key not in self.routes:
            self.routes[key] = Route(app, service, UpstreamSet(self.balance))
        return self.routes[key]

    # --- listeners --------------------------------------------------------------------------

    async def publish(self, app: str, service: str, mappings: Iterable[PortMapping]) -> None:
        """Listen on every mapping not listened on yet; all or nothing (PublishError names the port)."""
        route = self.route(app, service)
        bound: list[PortMapping] = []
        async with route.binding:
            try:
                for mapping in mappings:
                    if mapping in route.listeners:
                        continue
                    route.listeners[mapping] = Listener(mapping, await self._listen(route, mapping))
                    bound.append(mapping)
            except PublishError:
                for mapping in bound:
                    route.listeners.pop(mapping).server.close()
                raise

    async def _listen(self, route: Route, mapping: PortMapping) -> asyncio.Server:
        loop = asyncio.get_running_loop()

        def accept() -> ClientSide:
            return ClientSide(
                Relay(route.upstreams.counters), lambda relay: self._connect(route, mapping, relay)
            )

        try:
            return await loop.create_server(accept, mapping.host, mapping.host_port, backlog=1024)
        except OSError as exc:
            why = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
            raise PublishError(
                f"cannot publish port {mapping.label} of service {route.service} (app {route.app}): {why}; "
                f"stop what listens there (ss -ltnp 'sport = :{mapping.host_port}') or change "
                f"service.{route.service}.ports in mooring.toml"
            ) from None

    async def keep_only(self, app: str, service: str, mappings: Iterable[PortMapping]) -> list[PortMapping]:
        """Close the service's listeners that are not in ``mappings`` (open connections go on); the closed."""
        route = self.routes.get((app, service))
        if route is None:
            return []
        wanted = set(mappings)
        async with route.binding:
            gone = [m for m in route.listeners if m not in wanted]
            for mapping in gone:
                route.listeners.pop(mapping).server.close()
        return gone

    async def unpublish(self, app: str, service: str) -> None:
        """Close the service's listeners and forget its upstreams (``down``)."""
        route = self.routes.pop((app, service), None)
        if route is None:
            return
        for listener in route.listeners.values():
            listener.server.close()
        for iid in route.upstreams.members:
            self._route_of.pop(iid, None)

    async def close(self) -> None:
        for app, service in list(self.routes):
            await self.unpublish(app, service)

    # --- upstreams --------------------------------------------------------------------------

    def admit(self, app: str, service: str, instance_id: str, host: str, ports: dict[int, int]) -> None:
        """New connections may now go to this instance (it passed its readiness gate)."""
        route = self.route(app, service)
        existing = route.upstreams.get(instance_id)
        if existing is not None:
            existing.serving = True
            return
        route.upstreams.add(Upstream(instance_id, host, dict(ports)))
        self._route_of[instance_id] = route

    def upstream(self, instance_id: str) -> Upstream | None:
        route = self._route_of.get(instance_id)
        return route.upstreams.get(instance_id) if route else None

    def set_available(self, instance_id: str, available: bool) -> None:
        """The engine's view of the process (running, not unhealthy); an unavailable one gets no new connection."""
        upstream = self.upstream(instance_id)
        if upstream is not None:
            upstream.available = available

    async def withdraw(self, instance_id: str, drain_timeout: float) -> int:
        """Take the instance out of rotation, wait for its open connections up to ``drain_timeout``.

        Returns how many connections were still open at the deadline (0: drained).
        """
        route = self._route_of.pop(instance_id, None)
        upstream = route.upstreams.get(instance_id) if route else None
        if route is None or upstream is None:
            return 0
        upstream.serving = False
        left = await upstream.drained(drain_timeout)
        route.upstreams.discard(instance_id)
        return left

    def serving(self, instance_id: str) -> bool:
        upstream = self.upstream(instance_id)
        return upstream is not None and upstream.serving

    # --- forwarding -------------------------------------------------------------------------

    def _connect(self, route: Route, mapping: PortMapping, relay: Relay) -> None:
        asyncio.get_running_loop().create_task(self._open_upstream(route, mapping, relay))

    async def _open_upstream(self, route: Route, mapping: PortMapping, relay: Relay) -> None:
        """Connect to an eligible instance; one that refuses is skipped (nothing was sent to it yet)."""
        loop = asyncio.get_running_loop()
        tried: set[str] = set()
        while (upstream := route.upstreams.pick(tried)) is not None:
            tried.add(upstream.instance_id)
            host, port = upstream.address(mapping.port)
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT):  # cheaper than wait_for: no extra task
                    transport, _ = await loop.create_connection(lambda: ServerSide(relay), host, port)
            except (OSError, TimeoutError) as exc:
                upstream.counters.errors += 1
                log.info(
                    "%s/%s: %s refused a connection: %s", route.app, route.service, upstream.instance_id, exc
                )
                continue
            if relay.client is None or relay.client.is_closing():
                transport.close()  # the client left while we connected
                return
            relay.attach(upstream, transport)
            return
        route.upstreams.counters.errors += 1
        log.info("%s/%s: no ready instance for a connection on %s", route.app, route.service, mapping.label)
        relay.close()

    # --- reads ------------------------------------------------------------------------------

    def view(self, app: str) -> list[dict[str, Any]]:
        return [r.view() for (a, _), r in sorted(self.routes.items()) if a == app]

    def instance_counters(self, instance_id: str) -> dict[str, Any] | None:
        upstream = self.upstream(instance_id)
        return upstream.counters.to_dict() if upstream else None


def mappings_of(service: dict[str, Any]) -> list[PortMapping]:
    """The published ``ports`` entries of a snapshot's service (a bare ``"PORT"`` publishes nothing)."""
    return [
        PortMapping(p["host_ip"] or None, int(p["host_port"]), int(p["port"]))
        for p in service.get("ports", [])
        if p.get("host_port") is not None
    ]
