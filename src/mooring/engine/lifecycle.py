"""Take an app down: stop its instances in reverse dependency order, under the app's lease."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from mooring.engine.book import BookEntry, InstanceBook
from mooring.engine.survivors import Survivor, running_processes
from mooring.health import Prober
from mooring.manifest.graph import start_order
from mooring.manifest.snapshot import ReleaseSnapshot
from mooring.network import Edge
from mooring.runtime.dispatch import Drivers
from mooring.store import Release, Store

log = logging.getLogger("mooring.engine")


class DownRecords(Protocol):
    """What ``down`` uses of the release manager (engine/releases.py): the app's lease, so no release
    runs meanwhile, and the finished release that records the down in the app's history."""

    async def acquire(self, app: str, holder: str, wait_lock: float | None) -> None: ...

    def release_lease(self, app: str, holder: str) -> None: ...

    def record_down(
        self, app: str, services: Sequence[str] | None, stopped: Sequence[tuple[str, int, str]]
    ) -> Release | None: ...


class Lifecycle:
    """``stop_crons(app)`` ends the app's cron schedule; ``reconcile_listeners(app)`` closes the
    published ports that no instance is left to serve (both wired in engine/core.py)."""

    def __init__(
        self,
        store: Store,
        book: InstanceBook,
        drivers: Drivers,
        prober: Prober,
        proxy: Edge,
        releases: DownRecords,
        stop_crons: Callable[[str], None],
        reconcile_listeners: Callable[[str], Awaitable[None]],
    ) -> None:
        self.store = store
        self.book = book
        self.drivers = drivers
        self.prober = prober
        self.proxy = proxy
        self.releases = releases
        self.stop_crons = stop_crons
        self.reconcile_listeners = reconcile_listeners
        self._locks: dict[str, asyncio.Lock] = {}

    def _lock(self, app: str) -> asyncio.Lock:
        return self._locks.setdefault(app, asyncio.Lock())

    async def down(self, app: str, services: list[str] | None, wait_lock: float | None) -> dict[str, Any]:
        holder = "down-" + secrets.token_hex(4)
        await self.releases.acquire(app, holder, wait_lock)
        try:
            return await self._down(app, services)
        finally:
            self.releases.release_lease(app, holder)

    async def _down(self, app: str, services: list[str] | None) -> dict[str, Any]:
        async with self._lock(app):
            if not services:
                self.stop_crons(app)  # before stopping: no cron run starts meanwhile
            entries = self.book.of_app(app)
            if services:
                entries = {i: e for i, e in entries.items() if e.service in services}
            latest = self.store.latest_release(app)
            order = _service_order(latest.snapshot if latest else None, entries)
            stopped: list[str] = []
            for service in reversed(order):
                ids = [i for i, e in entries.items() if e.service == service]
                await self.proxy.unpublish(app, service)  # closes its published ports first
                for iid in ids:
                    if iid in self.prober:
                        self.prober.unregister(iid)
                await self.drivers.stop_all(ids)
                for iid in ids:
                    await self.drivers.forget(iid)
                    self.book.forget(iid)
                    stopped.append(iid)
            await self.reconcile_listeners(app)  # e.g. `down api` leaves no listener of api
            if self.drivers.has_cluster:
                try:  # a secret's value stays on the cluster only while a task may read it
                    await self.drivers.swarm.remove_unused_secrets(app)
                except Exception as exc:  # the cluster is unreachable: they go at the next down
                    log.warning("down %s: cannot remove its Swarm secrets: %s", app, exc)
            slots = [(entries[i].service, entries[i].replica, i) for i in stopped]
            recorded = self.releases.record_down(app, services, slots)
            survivors = await self._survivors(app, services, latest.snapshot if latest else None)
        if survivors:
            log.error("down %s: still running: %s", app, ", ".join(s.describe() for s in survivors))
        return {
            "app": app,
            "stopped": stopped,
            "release_id": recorded.id if recorded else None,
            "survivors": [s.view() for s in survivors],
        }

    async def _survivors(
        self, app: str, services: list[str] | None, snapshot_text: str | None
    ) -> list[Survivor]:
        """What of the app still runs after the stop: ``down`` must not report success over it."""
        settings = self.drivers.process.settings
        found = running_processes(settings.fifo_dir or settings.log_dir, app, services)
        drivers = self.drivers
        if drivers.has_container_driver or _uses_images(snapshot_text):
            try:
                rows = await drivers.container.running_of_app(app)
            except Exception as exc:  # no container engine: then no container can still run
                log.debug("down %s: cannot list containers: %s", app, exc)
                rows = []
            found += [
                Survivor(iid, service, container_id=cid)
                for iid, service, cid in rows
                if not services or service in services
            ]
        return found


def _uses_images(snapshot_text: str | None) -> bool:
    if not snapshot_text:
        return False
    snap = ReleaseSnapshot.decode(snapshot_text)
    return any(
        section.get("image")
        for kind in ("service", "worker", "cron")
        for section in snap.of_kind(kind).values()
    )


def _service_order(snapshot_text: str | None, entries: dict[str, BookEntry]) -> list[str]:
    services = {e.service for e in entries.values()}
    edges: dict[str, tuple[str, ...]] = {s: () for s in services}
    if snapshot_text:
        for name, svc in ReleaseSnapshot.decode(snapshot_text).services.items():
            if name in services:
                edges[name] = tuple(d for d in svc.get("depends_on", []) if d in services)
    try:
        return start_order(edges)
    except ValueError:
        return sorted(services)
