"""The edge: every published port of the host, served by one managed HAProxy.

The engine states what it wants (listeners per service, instances in rotation, draining or out);
``sync`` makes HAProxy match: a start when none runs, a hitless reload when listeners change,
runtime API commands when only servers change. HAProxy outlives the engine: a new engine adopts it
and reconciles its servers with the instances it adopted, without a reload when nothing else changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from mooring.network.counters import Counters
from mooring.network.haproxy_config import (
    Backend,
    EdgeConfig,
    Frontend,
    Server,
    backend_name,
    frontend_name,
    render,
)
from mooring.network.haproxy_process import EdgeError, HAProxyProcess
from mooring.network.http_config import http_config
from mooring.network.http_routes import (
    HttpRule,
    RouteClash,
    clashes,
    listen_addresses,
)
from mooring.network.mappings import PortMapping, PublishError, check_free
from mooring.network.runtime_api import RuntimeApiError
from mooring.network.tls import EdgeTls
from mooring.network.upstreams import Route, Upstream

log = logging.getLogger("mooring.network")
DRAIN_POLL = 0.1  # HAProxy has no push for "this server has no session left"
RETRY_AFTER = 1.0


class Edge:
    """All published ports of the engine, on one HAProxy."""

    def __init__(self, home: Path) -> None:
        self.process = HAProxyProcess(home)
        self.process.on_death = self._died
        self.routes: dict[tuple[str, str], Route] = {}
        self._route_of: dict[str, Route] = {}  # instance id -> its service's route
        self._lock = asyncio.Lock()
        self._held = True  # until the engine restored its instances: no partial state reaches HAProxy
        self._structure: list[str] | None = None  # what the running HAProxy was started/reloaded with
        self._live: set[PortMapping] = set()  # the addresses it listens on
        self._stats: dict[tuple[str, str], Counters] = {}
        self._server_status: dict[tuple[str, str], str] = {}  # HAProxy's UP / DOWN / no check / MAINT
        self._dirty = False
        self._task: asyncio.Task[None] | None = None
        self.restarts = 0
        self.on_restart: Callable[[int], None] | None = None
        self._state_path = self.process.dir / "state.json"
        self.maintenance: dict[str, str] = {}  # app -> the message its routes answer with (503)
        self._http_listen: tuple[PortMapping, PortMapping] | None = None
        self.tls = EdgeTls(home, self.process.api, self._kick)

    # --- start-up, shutdown -------------------------------------------------------------------

    async def start(self) -> None:
        """Adopt a running HAProxy; ``resume`` then applies what the engine restored."""
        if await self.process.adopt():
            with contextlib.suppress(OSError, ValueError, KeyError):
                state = json.loads(self._state_path.read_text())
                self._structure = state["structure"]
                self._live = {PortMapping(h, hp, p) for h, hp, p in state["listeners"]}
                self.process.inherited = {PortMapping(h, hp, p): fd for h, hp, p, fd in state["inherited"]}
            with contextlib.suppress(RuntimeApiError):
                await self.process.hold(self._live)

    async def resume(self) -> None:
        self._held = False
        try:
            await self.sync()
        except (EdgeError, RuntimeApiError) as exc:
            log.error("the edge after the restart: %s", exc)
            self._retry_later()

    async def close(self) -> None:
        """The engine stops; HAProxy goes on serving."""
        self._held = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        await self.tls.close()
        self.process.detach()

    async def stop(self) -> None:
        """Stop HAProxy explicitly: no pending retry may start it again (``resume`` undoes this)."""
        self._held = True  # a sync under way finishes; none starts after it
        if self._task is not None and self._task is not asyncio.current_task():
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.shield(self._task), timeout=15.0)
        await self.tls.close()
        async with self._lock:
            await self._stop()

    async def _stop(self) -> None:
        await self.process.stop(timeout=5.0)
        self._structure, self._live = None, set()
        self._state_path.unlink(missing_ok=True)

    # --- listeners ----------------------------------------------------------------------------

    def route(self, app: str, service: str) -> Route:
        return self.routes.setdefault((app, service), Route(app, service))

    async def publish(self, app: str, service: str, mappings: Iterable[PortMapping]) -> None:
        """Listen on every mapping not listened on yet; all or nothing (PublishError names the port)."""
        route = self.route(app, service)
        new = [m for m in dict.fromkeys(mappings) if m not in route.listeners]
        if not new:
            return
        for mapping in new:
            owner = next((r for r in self.routes.values() if mapping in r.listeners), None)
            if owner is not None:
                raise PublishError(
                    f"cannot publish port {mapping.label} of service {service} (app {app}): already published "
                    f"by service {owner.service} of app {owner.app}; change service.{service}.ports in mooring.toml"
                )
            if mapping not in self._live:
                check_free(mapping, app, service)
        route.listeners.update(new)
        if self._held:
            return
        try:
            await self.sync()
        except (EdgeError, RuntimeApiError) as exc:
            route.listeners.difference_update(new)
            labels = ", ".join(m.label for m in new)
            self._retry_later()
            raise PublishError(
                f"cannot publish port {labels} of service {service} (app {app}): {exc}"
            ) from None

    async def keep_only(self, app: str, service: str, mappings: Iterable[PortMapping]) -> list[PortMapping]:
        """Stop listening on the service's mappings not in ``mappings``; the ones closed."""
        route = self.routes.get((app, service))
        if route is None:
            return []
        wanted = set(mappings)
        gone = [m for m in route.listeners if m not in wanted]
        if gone:
            route.listeners.difference_update(gone)
            await self._sync_or_log()
        return gone

    def http_listen(self) -> tuple[PortMapping, PortMapping]:
        """The shared HTTP and HTTPS listeners (read once: changing them takes an engine restart)."""
        if self._http_listen is None:
            self._http_listen = listen_addresses(self.process.dir.parent)
        return self._http_listen

    async def route_http(self, app: str, service: str, rules: Iterable[HttpRule]) -> None:
        """Serve the service's HTTP routes (replacing the ones it had); all or nothing.

        A host and path another service already routes is refused (RouteClash names both): the
        engine checks an apply before anything changes, this is the last line for a race between two.
        """
        route = self.route(app, service)
        wanted = list(dict.fromkeys(rules))
        if wanted == route.http:
            return
        others = [r for key, other in self.routes.items() if key != (app, service) for r in other.http]
        for new, old in clashes(wanted, others):
            raise RouteClash(
                f"cannot route host {new.host} path {new.path} to service {service} (app {app}): "
                f"already routed to service {old.service} of app {old.app}; change "
                f"service.{service}.route in mooring.toml or take the route out of app {old.app}"
            )
        if wanted:
            http, https = self.http_listen()
            listeners = [http] + ([https] if any(r.tls for r in wanted) else [])
            for mapping in listeners:
                if mapping not in self._live:
                    check_free(mapping, app, service)
        before, route.http = route.http, wanted
        try:
            self.tls.use(self.http_rules())
        except PublishError:
            route.http = before
            raise
        if self._held:
            return
        try:
            await self.sync()
        except (EdgeError, RuntimeApiError) as exc:
            route.http = before
            self.tls.use(self.http_rules())
            self._retry_later()
            raise PublishError(
                f"cannot serve the HTTP routes of service {service} (app {app}): {exc}"
            ) from None

    def http_rules(self) -> list[HttpRule]:
        return [r for _, route in sorted(self.routes.items()) for r in route.http]

    async def set_maintenance(self, app: str, message: str | None) -> None:
        """Answer the app's routes with a 503 page (``message``), or serve them again (None)."""
        if message is None:
            self.maintenance.pop(app, None)
        else:
            self.maintenance[app] = message
        await self._sync_or_log()

    async def unpublish(self, app: str, service: str) -> None:
        """Close the service's listeners and forget its instances (``down``)."""
        route = self.routes.pop((app, service), None)
        if route is None:
            return
        for iid in route.members:
            self._route_of.pop(iid, None)
        await self._sync_or_log()

    # --- instances ----------------------------------------------------------------------------

    def admit(self, app: str, service: str, instance_id: str, host: str, ports: dict[int, int]) -> None:
        """New connections may now go to this instance (it passed its readiness gate)."""
        route = self.route(app, service)
        existing = route.members.get(instance_id)
        if existing is not None:
            existing.serving = True
        else:
            route.members[instance_id] = Upstream(instance_id, host, dict(ports))
            self._route_of[instance_id] = route
        self._kick()

    def upstream(self, instance_id: str) -> Upstream | None:
        route = self._route_of.get(instance_id)
        return route.members.get(instance_id) if route else None

    def set_available(self, instance_id: str, available: bool) -> None:
        """The engine's view of the process (running, not unhealthy); an unavailable one gets no new connection."""
        upstream = self.upstream(instance_id)
        if upstream is not None and upstream.available != available:
            upstream.available = available
            self._kick()

    def reaim(self, instance_id: str, host: str, ports: dict[int, int]) -> None:
        """The instance moved (a cluster task on another node): its server follows it."""
        upstream = self.upstream(instance_id)
        if upstream is not None and (upstream.host, upstream.ports) != (host, ports):
            upstream.host, upstream.ports = host, dict(ports)
            self._kick()

    def serving(self, instance_id: str) -> bool:
        upstream = self.upstream(instance_id)
        return upstream is not None and upstream.serving

    def retire(self, instance_id: str) -> None:
        """No new connection for this instance from the next sync on; it keeps its open ones."""
        upstream = self.upstream(instance_id)
        if upstream is not None and upstream.serving:
            upstream.serving = False
            self._kick()

    async def sync_soon(self) -> None:
        """Apply what changed now, logging (and retrying later) when HAProxy cannot take it."""
        await self._sync_or_log()

    async def weigh(self, app: str, service: str, canary: Iterable[str], percent: int | None) -> None:
        """The canary instances together take ``percent`` % of the service's new connections and
        requests, on its published ports and its routes, the others share the rest; ``percent``
        None (or no canary) gives every instance an equal share again."""
        route = self.routes.get((app, service))
        if route is None:
            return
        wanted = set(canary) if percent is not None else set()
        if (route.canary, route.canary_weight) == (wanted, percent if wanted else None):
            return
        route.canary, route.canary_weight = wanted, percent if wanted else None
        await self._sync_or_log()

    async def withdraw(self, instance_id: str, drain_timeout: float) -> int:
        """Drain the instance (no new connections) and wait for its sessions up to ``drain_timeout``.

        Returns how many sessions were still open at the deadline (0: drained). The server stays
        in HAProxy, draining, until ``forget``: the instance's own stop ends what is left cleanly
        (a server answers ``Connection: close`` after SIGTERM), where cutting it here would not.
        """
        route = self._route_of.get(instance_id)
        upstream = route.members.get(instance_id) if route else None
        if route is None or upstream is None:
            return 0
        upstream.serving = False
        left = 0
        try:
            await self.sync()
            deadline = time.monotonic() + drain_timeout
            while (left := await self._sessions(route, upstream)) and time.monotonic() < deadline:
                await asyncio.sleep(DRAIN_POLL)
        except (EdgeError, RuntimeApiError) as exc:  # HAProxy is down: nothing to drain through it
            log.error("draining %s: %s", instance_id, exc)
        return left

    async def forget(self, instance_id: str) -> None:
        """The instance stopped: its server leaves HAProxy."""
        route = self._route_of.pop(instance_id, None)
        if route is not None:
            route.canary.discard(instance_id)  # a rolled back canary's share goes back to the others
        if route is not None and route.members.pop(instance_id, None) is not None:
            await self._sync_or_log()

    async def _sessions(self, route: Route, upstream: Upstream) -> int:
        names = route.backends(upstream.ports)
        rows = await self.process.api.show_stat()
        return sum(
            Counters.of(r).active
            for r in rows
            if r["pxname"] in names and r["svname"] == upstream.instance_id
        )

    # --- making HAProxy match -----------------------------------------------------------------

    def desired(self) -> EdgeConfig:
        config = EdgeConfig(self.process.api.stats_socket)
        self._desired_http(config)
        for (app, service), route in sorted(self.routes.items()):
            if not route.listeners:
                continue
            weights = route.weights()
            for mapping in sorted(route.listeners, key=lambda m: (m.label, m.port)):
                backend = backend_name(app, service, mapping.port)
                config.frontends.append(Frontend(frontend_name(app, service, mapping), mapping, backend))
                servers = config.backends.setdefault(backend, Backend(backend, balance=route.balance)).servers
                for iid, u in route.members.items():
                    port = u.ports.get(mapping.port, mapping.port)
                    servers[iid] = Server(iid, u.host, port, u.state, weights.get(iid, 1))
        return config

    def _desired_http(self, config: EdgeConfig) -> None:
        """The shared HTTP frontend (HTTPS too when a route has TLS), a backend per routed port."""
        if not self.http_rules():
            return
        self.tls.prepare()
        ready = self.tls.ready()
        self.tls.store.write_list(sorted(ready))  # the crt-list HAProxy reads at start and reload
        http_config(config, self.routes, self.maintenance, self.http_listen(), self.tls.files(), ready)

    async def sync(self) -> None:
        async with self._lock:
            if self._held:
                return
            config = self.desired()
            if config.empty:
                if self.process.pid is not None:
                    log.warning("no published port left: stopping HAProxy")
                    await self._stop()
                return
            listeners = {f.mapping for f in config.frontends} | set(config.listeners)
            if self.process.pid is None:  # a restart after a death inherits the sockets held meanwhile
                config.inherited = self.process.held.fds(listeners)
                await self.process.start(render(config), config.inherited)
                self._applied(config)
                await self.process.hold(self._live)
            elif config.structure() != self._structure:
                config.inherited = {m: n for m, n in self.process.inherited.items() if m in listeners}
                await self.process.reload(render(config))
                self._applied(config)
                await self.process.hold(self._live)
            else:
                config.inherited = self.process.inherited
                self.process.write(render(config))
            await self._apply_servers(config)
            self.tls.serving()

    def _applied(self, config: EdgeConfig) -> None:
        self._structure = config.structure()
        self._live = {f.mapping for f in config.frontends} | set(config.listeners)
        state = {
            "structure": self._structure,
            "listeners": [[m.host, m.host_port, m.port] for m in self._live],
            "inherited": [[m.host, m.host_port, m.port, fd] for m, fd in config.inherited.items()],
        }
        self._state_path.write_text(json.dumps(state, sort_keys=True))

    async def _apply_servers(self, config: EdgeConfig) -> None:
        api = self.process.api
        live = {(s.backend, s.name): s for s in await api.show_servers()}
        changes: list[tuple[str, str, str]] = []
        weights: list[tuple[str, str, int]] = []
        for backend in config.backends.values():
            for s in backend.servers.values():
                current = live.pop((backend.name, s.name), None)
                if current is not None and (current.address, current.port) != (s.address, s.port):
                    await api.delete_server(backend.name, s.name)
                    current = None
                if current is None:
                    await api.add_server(backend.name, s.name, s.address, s.port, s.check)  # in maintenance
                    if s.state != "maint":
                        changes.append((backend.name, s.name, s.state))
                elif current.admin != s.state:
                    changes.append((backend.name, s.name, s.state))
                if (current.weight if current is not None else 1) != s.weight:
                    weights.append((backend.name, s.name, s.weight))
        # One command line: servers coming in and servers draining change in the same instant (a
        # blue_green cut-over never sends a new connection to the old set after one went to the new),
        # and those coming in go first, so a backend is never left with none taking connections.
        await api.set_states(sorted(changes, key=lambda c: c[2] != "ready"), weights)
        for (backend_, name), _ in live.items():
            if not await api.delete_server(backend_, name):
                self._retry_later()  # its last connections are still closing

    def _kick(self) -> None:
        """Sync soon, from synchronous callers; syncs requested meanwhile fold into one."""
        self._dirty = True
        if self._held or self._closed_loop() or (self._task is not None and not self._task.done()):
            return
        self._task = asyncio.get_running_loop().create_task(self._background())

    async def _background(self) -> None:
        while self._dirty and not self._held:
            self._dirty = False
            try:
                await self.sync()
            except (EdgeError, RuntimeApiError) as exc:
                log.error("the edge: %s", exc)
                self._retry_later()

    @staticmethod
    def _closed_loop() -> bool:
        try:
            return asyncio.get_running_loop().is_closed()
        except RuntimeError:  # a retry timer firing with no running loop: nothing to sync on
            return True

    def _retry_later(self) -> None:
        asyncio.get_running_loop().call_later(RETRY_AFTER, self._kick)

    async def _sync_or_log(self) -> None:
        try:
            await self.sync()
        except (EdgeError, RuntimeApiError) as exc:
            log.error("the edge: %s", exc)
            self._retry_later()

    def _died(self) -> None:
        """HAProxy exited on its own: start it again with the current state (counted, evented)."""
        self._structure, self._live = None, set()
        if self._held:
            return
        self.restarts += 1
        if self.on_restart is not None:
            self.on_restart(self.restarts)
        self._kick()

    # --- reads --------------------------------------------------------------------------------

    async def refresh(self) -> None:
        """Read the counters of every backend and server (for views)."""
        if self.process.pid is None:
            self._stats, self._server_status = {}, {}
            return
        try:
            rows = await self.process.api.show_stat()
        except RuntimeApiError as exc:
            log.info("counters unavailable: %s", exc)
            return
        self._stats = {(r["pxname"], r["svname"]): Counters.of(r) for r in rows}
        self._server_status = {(r["pxname"], r["svname"]): r.get("status", "") for r in rows}

    def _counters(self, route: Route, name: str) -> Counters:
        total = Counters()
        for backend in sorted(route.backends({m.port for m in route.listeners})):
            total.add(self._stats.get((backend, name), Counters()))
        return total

    def instance_counters(self, instance_id: str) -> dict[str, Any] | None:
        route = self._route_of.get(instance_id)
        if route is None or instance_id not in route.members:
            return None
        return self._counters(route, instance_id).to_dict()

    def view(self, app: str) -> list[dict[str, Any]]:
        return [self._route_view(r) for (a, _), r in sorted(self.routes.items()) if a == app]

    def _route_view(self, route: Route) -> dict[str, Any]:
        weights = route.weights()
        first = min(route.listeners, key=lambda m: (m.label, m.port), default=None)
        declared = first.port if first else None
        return {
            "service": route.service,
            "listeners": [
                {"address": m.label, "port": m.port} for m in sorted(route.listeners, key=lambda m: m.label)
            ],
            "routes": [
                {
                    **r.to_dict(),
                    "certificate": self.tls.status(r.host),
                    "counters": self._stats.get((r.backend, "BACKEND"), Counters()).to_dict(),
                    "servers": self._servers_up(route, r.backend),
                }
                for r in route.http
            ],
            "balance": "weighted_round_robin" if route.weighted else "least_connections",
            "canary_weight": route.canary_weight,
            "counters": self._counters(route, "BACKEND").to_dict(),
            "instances": [
                {
                    "id": u.instance_id,
                    "upstream": f"{u.host}:{u.ports.get(declared, declared)}"
                    if declared is not None
                    else None,
                    "serving": u.serving,
                    "available": u.available,
                    "state": u.state,
                    "weight": weights.get(u.instance_id, 1),
                    "counters": self._counters(route, u.instance_id).to_dict(),
                }
                for u in route.members.values()
            ],
        }

    def _servers_up(self, route: Route, backend: str) -> dict[str, int]:
        """The route's upstream set: instances in rotation, and those HAProxy would send to now
        (a failed ``health_path`` check takes one out; without a check, in rotation is up)."""
        taking = [u.instance_id for u in route.members.values() if u.state == "ready"]
        status = [self._server_status.get((backend, i), "") for i in taking]
        return {"up": sum(s.startswith("UP") or s == "no check" for s in status), "total": len(taking)}

    def info(self) -> dict[str, Any]:
        return {
            "pid": self.process.pid,
            "restarts": self.restarts,
            "config": str(self.process.config_path),
            "listeners": sorted(m.label for m in self._live),
            "maintenance": sorted(self.maintenance),
            "certificates": self.tls.view(),
        }
