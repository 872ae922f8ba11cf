"""HTTP routes across apps, and maintenance mode: what only the engine, which sees every app, decides.

A manifest knows one app, so two apps claiming the same host and path is found here, at plan and
apply, before anything changes. Maintenance (503 with a page on an app's routes) is kept in the
store, so an engine restart serves the page on.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from mooring.engine.journal import Journal
from mooring.errors import NotFound, RouteConflict
from mooring.network import Edge, HttpRule, clashes, rules_of
from mooring.store import Store

log = logging.getLogger("mooring.engine")
MAINTENANCE_KEY = "maintenance."  # + app name; the value: {"message": ..., "since": ...}
DEFAULT_MESSAGE = "This site is down for maintenance and will be back shortly."


def snapshot_rules(app: str, snapshot: dict[str, Any]) -> dict[str, list[HttpRule]]:
    """The HTTP routes of each service of a snapshot."""
    return {name: rules_of(app, name, svc) for name, svc in (snapshot.get("service") or {}).items()}


def check_claims(proxy: Edge, app: str, snapshot: dict[str, Any]) -> None:
    """Refuse a snapshot whose routes another app already serves (RouteConflict names both)."""
    others = [r for (a, _), route in proxy.routes.items() if a != app for r in route.http]
    problems = []
    for service, rules in snapshot_rules(app, snapshot).items():
        for new, old in clashes(rules, others):
            index = rules.index(new)
            problems.append(
                f"app {app}: service.{service}.route[{index}] (host {new.host}, path {new.path}) is "
                f"already routed to app {old.app}, service {old.service}"
            )
    if problems:
        raise RouteConflict(
            "; ".join(problems),
            hint="give the route another host or path, or take it out of the other app first "
            "(mooring down --app APP, or remove its [[service.NAME.route]] and apply)",
        )


class Maintenance:
    """Per app: on (with its message) or off; recorded as events, kept across engine restarts."""

    def __init__(self, store: Store, journal: Journal, proxy: Edge) -> None:
        self.store = store
        self.journal = journal
        self.proxy = proxy

    def restore(self) -> None:
        """Before the edge resumes: the pages that were up stay up."""
        for key, value in self.store.settings_under(MAINTENANCE_KEY).items():
            app = key[len(MAINTENANCE_KEY) :]
            try:
                self.proxy.maintenance[app] = json.loads(value)["message"]
            except (ValueError, KeyError, TypeError):
                log.error("maintenance of app %s: unreadable setting %r; serving the app", app, value)

    def state(self, app: str) -> dict[str, Any]:
        message = self.proxy.maintenance.get(app)
        return {"app": app, "maintenance": message is not None, "message": message}

    async def set(self, app: str, on: bool, message: str | None) -> dict[str, Any]:
        if self.store.latest_release(app) is None:
            raise NotFound(f"no app {app!r}", hint="mooring apps lists the apps")
        text = (message or DEFAULT_MESSAGE) if on else None
        self.store.put_setting(
            MAINTENANCE_KEY + app, json.dumps({"message": text}) if text is not None else None
        )
        self.journal.append_event(
            app, "maintenance.on" if on else "maintenance.off", {"message": text} if on else {}
        )
        await self.proxy.set_maintenance(app, text)
        return self.state(app)
