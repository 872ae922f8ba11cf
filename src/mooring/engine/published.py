"""Published listeners follow the live release: reconciled when a release ends or an app goes down.

Listeners are bound as instances start (a port in use fails that target only). What no target
start touches is put right here: a service with no instance left loses its listeners (else the
port accepts connections only to close them), and a service whose instances were left alone but
whose published host side changed gets its new listener, and loses the old one.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from mooring.engine.book import InstanceBook
from mooring.engine.journal import Journal
from mooring.engine.snapshots import Snapshots
from mooring.network import Edge, HttpRule, PublishError, mappings_of, rules_of
from mooring.store import Store

log = logging.getLogger("mooring.engine")
# Releases whose snapshot is what runs (or is being rolled out, when paused); a failed, rolled back,
# cancelled or superseded release's ports are not: the version before it still serves.
SERVING = ("completed", "partially_failed", "in_progress", "pending")


class Listeners(Protocol):
    """What the published listeners are reconciled from and with (the engine, engine/core.py)."""

    @property
    def store(self) -> Store: ...

    @property
    def snapshots(self) -> Snapshots: ...

    @property
    def book(self) -> InstanceBook: ...

    @property
    def proxy(self) -> Edge: ...

    @property
    def journal(self) -> Journal: ...


def serving_snapshot(engine: Listeners, app: str) -> tuple[str, dict[str, Any]] | None:
    """The newest release of the app whose snapshot is live, with its id."""
    for release in engine.store.list_releases(app, limit=200):
        if release.status in SERVING:
            return release.id, engine.snapshots.data(release.id)
    return None


def live_rules(engine: Listeners, app: str, service: str) -> list[HttpRule]:
    """The HTTP routes of a service in the app's live snapshot (a route-only change restarts no
    instance, so an instance's own release may be older than the routes it serves)."""
    live = serving_snapshot(engine, app)
    svc = live[1].get("service", {}).get(service) if live is not None else None
    return rules_of(app, service, svc) if svc else []


async def reconcile_listeners(engine: Listeners, app: str) -> None:
    """Bind and close the app's listeners so they match its instances and its live snapshot."""
    live = serving_snapshot(engine, app)
    release_id, snapshot = live if live is not None else (None, {})
    for a, service in [key for key in engine.proxy.routes if key[0] == app]:
        if not any(e.app == app and e.service == service for e in engine.book.entries.values()):
            if engine.proxy.routes[(a, service)].listeners:
                log.warning("%s/%s: no instance left; closing its published ports", app, service)
            await engine.proxy.unpublish(app, service)
            continue
        svc = snapshot.get("service", {}).get(service)
        if svc is None:  # instances of a service no live release knows: leave what serves them alone
            continue
        wanted = mappings_of(svc)
        try:
            await engine.proxy.publish(app, service, wanted)
            await engine.proxy.route_http(app, service, rules_of(app, service, svc))
        except PublishError as exc:  # the old listeners stay: the instances keep being reachable there
            log.error("release %s: %s", release_id, exc)
            engine.journal.append_event(
                app, "proxy.publish_failed", {"service": service, "error": str(exc)}, release_id
            )
            continue
        for mapping in await engine.proxy.keep_only(app, service, wanted):
            log.warning(
                "%s/%s: closed published port %s (no longer in the manifest)", app, service, mapping.label
            )
