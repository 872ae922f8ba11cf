"""Take an app down: stop its instances in reverse dependency order, under the app's lease."""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import TYPE_CHECKING, Any

from mooring.engine.book import BookEntry
from mooring.engine.published import reconcile_listeners
from mooring.manifest.graph import start_order
from mooring.manifest.snapshot import ReleaseSnapshot

if TYPE_CHECKING:
    from mooring.engine.core import Engine

log = logging.getLogger("mooring.engine")


class Lifecycle:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._locks: dict[str, asyncio.Lock] = {}

    def _lock(self, app: str) -> asyncio.Lock:
        return self._locks.setdefault(app, asyncio.Lock())

    async def down(self, app: str, services: list[str] | None, wait_lock: float | None) -> dict[str, Any]:
        holder = "down-" + secrets.token_hex(4)
        await self.engine.releases.acquire(app, holder, wait_lock)
        try:
            return await self._down(app, services)
        finally:
            self.engine.releases.release_lease(app, holder)

    async def _down(self, app: str, services: list[str] | None) -> dict[str, Any]:
        async with self._lock(app):
            if not services:
                self.engine.schedules.stop_app(app)  # before stopping: no cron run starts meanwhile
            entries = self.engine.book.of_app(app)
            if services:
                entries = {i: e for i, e in entries.items() if e.service in services}
            latest = self.engine.store.latest_release(app)
            order = _service_order(latest.snapshot if latest else None, entries)
            stopped: list[str] = []
            for service in reversed(order):
                ids = [i for i, e in entries.items() if e.service == service]
                await self.engine.proxy.unpublish(app, service)  # closes its published ports first
                for iid in ids:
                    if iid in self.engine.prober:
                        self.engine.prober.unregister(iid)
                await self.engine.supervisor.stop_all(ids)
                for iid in ids:
                    await self.engine.supervisor.forget(iid)
                    self.engine.book.forget(iid)
                    stopped.append(iid)
            await reconcile_listeners(self.engine, app)  # e.g. `down api` leaves no listener of api
            slots = [(entries[i].service, entries[i].replica, i) for i in stopped]
            recorded = self.engine.releases.record_down(app, services, slots)
        return {"app": app, "stopped": stopped, "release_id": recorded.id if recorded else None}


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
