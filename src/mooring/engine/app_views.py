"""What the operator reads about an app: its status, the list of apps, marked history, the dry-run plan
and the rollback preview. Read-only: nothing here writes the store or touches an instance."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol

from mooring.engine.book import InstanceBook
from mooring.engine.http_routes import check_claims
from mooring.engine.image_pins import pin_images
from mooring.engine.journal import Journal
from mooring.engine.releases import LIVE, not_a_snapshot, with_source_digests
from mooring.engine.secret_pins import pin_secret_versions
from mooring.errors import NotFound, UsageError
from mooring.manifest.snapshot import ReleaseSnapshot, SnapshotError
from mooring.network import Edge
from mooring.release.plan import PlanError, RunningInstance
from mooring.release.preview import ObservedInstance, preview
from mooring.runtime.dispatch import Drivers
from mooring.runtime.states import InstanceState
from mooring.store import Release, Store


def is_down(current: Release | None) -> bool:
    """Taken down as a whole by `mooring down` (a partial down leaves the app up)."""
    return current is not None and current.trigger == "down" and not current.service_filter


class ViewedReleases(Protocol):
    """What the views read of the release manager (engine/releases.py)."""

    def prev_ok(self, latest: Release) -> Release | None: ...

    def view(self, release: Release, with_targets: bool = True) -> dict[str, Any]: ...

    def rollback_choice(self, app: str, release_id: str | None) -> tuple[Release, str]: ...

    def running(self, app: str) -> list[RunningInstance]: ...


class CronViews(Protocol):
    def views(self, app: str) -> list[dict[str, Any]]: ...


class Viewed(Protocol):
    """What the views read of the engine (engine/core.py); the journal and drivers only for a
    dry-run's image ids, the edge for route claims and route status."""

    @property
    def store(self) -> Store: ...

    @property
    def releases(self) -> ViewedReleases: ...

    @property
    def schedules(self) -> CronViews: ...

    @property
    def book(self) -> InstanceBook: ...

    @property
    def proxy(self) -> Edge: ...

    @property
    def journal(self) -> Journal: ...

    @property
    def supervisor(self) -> Drivers: ...

    def instances(self, app: str | None = None) -> list[dict[str, Any]]: ...

    def health_of(self, instance_id: str) -> str | None: ...


class AppViews:
    def __init__(self, engine: Viewed) -> None:
        self.engine = engine
        self.store = engine.store
        self.releases = engine.releases

    def _known(self, app: str) -> bool:
        return any(a.name == app for a in self.store.list_apps())

    def unknown_app(self, app: str) -> NotFound:
        """``no app named 'x'``, listing the apps there are, for a typo at 3 a.m."""
        names = sorted(a.name for a in self.store.list_apps())
        return NotFound(
            f"no app named {app!r}",
            hint=f"known apps: {', '.join(names)}" if names else "no apps yet; apply one with: mooring up",
        )

    def current_and_previous(self, app: str) -> tuple[Release | None, Release | None]:
        """The newest release, and the newest completed release before it (what rollback restores)."""
        current = self.store.latest_release(app)
        if current is None:
            return None, None
        return current, self.releases.prev_ok(current)

    def status(self, app: str) -> dict[str, Any]:
        """``current_release`` (with targets), ``previous_successful_release`` and the app's instances."""
        current, previous = self.current_and_previous(app)
        instances = self.engine.instances(app)
        if current is None and not instances:
            raise self.unknown_app(app)
        return {
            "app": app,
            "down": is_down(current),
            "current_release": self.releases.view(current) if current else None,
            "previous_successful_release": (
                self.releases.view(previous, with_targets=False) if previous else None
            ),
            "instances": instances,
            "crons": self.engine.schedules.views(app),
            "routes": route_statuses(self.engine.proxy.view(app)),
        }

    def apps(self) -> list[dict[str, Any]]:
        """One summary per app: its current release, previous successful release and instance counts."""
        rows = []
        for app in sorted(self.store.list_apps(), key=lambda a: a.name):
            current, previous = self.current_and_previous(app.name)
            # long-running instances only: a cron or worker run is no part of the app's health
            entries = {i: e for i, e in self.engine.book.of_app(app.name).items() if e.kind == "service"}
            healthy = sum(
                1
                for iid, e in entries.items()
                if e.record is not None
                and e.record.state is InstanceState.RUNNING
                and self.engine.health_of(iid) in ("healthy", None)
            )
            rows.append(
                {
                    "app": app.name,
                    "down": is_down(current),
                    "current_release": self.releases.view(current, with_targets=False) if current else None,
                    "previous_successful_release": (
                        self.releases.view(previous, with_targets=False) if previous else None
                    ),
                    "instances": {"total": len(entries), "healthy": healthy},
                    "updated_at": app.updated_at.isoformat(),
                }
            )
        return rows

    def history(self, app: str, limit: int, before: int | None) -> list[dict[str, Any]]:
        """A page of releases, newest first, each marked ``current`` / ``previous_successful``."""
        if not self._known(app):
            raise self.unknown_app(app)
        current, previous = self.current_and_previous(app)
        rows = []
        for r in self.store.list_releases(app, limit=limit, before_number=before):
            view = self.releases.view(r, with_targets=False)
            view["current"] = current is not None and r.id == current.id
            view["previous_successful"] = previous is not None and r.id == previous.id
            rows.append(view)
        return rows

    def plan(
        self,
        app: str,
        snapshot_text: str,
        services: Sequence[str] | None,
        read_sources: bool = True,
        keep_pinned: bool = False,
    ) -> dict[str, Any]:
        """The dry-run plan against the current release and what actually runs; writes nothing.
        ``read_sources``: digest the process services' code as an apply would (not for a rollback);
        ``keep_pinned``: keep the secret versions the snapshot pinned (a rollback), else pin the newest."""
        try:
            decoded = ReleaseSnapshot.decode(snapshot_text)
        except SnapshotError as exc:
            raise UsageError(str(exc)) from None
        try:
            check_claims(self.engine.proxy, app, decoded.data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise not_a_snapshot(exc) from None
        if read_sources:
            decoded = ReleaseSnapshot(with_source_digests(decoded.data))
        snapshot = decoded.data
        try:
            pin_secret_versions(self.store, app, snapshot, keep_pinned=keep_pinned)
        except (AttributeError, TypeError) as exc:
            raise not_a_snapshot(exc) from None
        decoded = ReleaseSnapshot(snapshot)  # hash over the pinned versions
        current = self.store.latest_release(app)
        observed = [
            ObservedInstance(
                iid,
                e.service,
                e.replica,
                e.spec_hash,
                e.record.state.value if e.record is not None else "unknown",
                e.record is not None and e.record.state in LIVE,
            )
            for iid, e in self.engine.book.of_app(app).items()
        ]
        try:
            return preview(
                app,
                snapshot,
                decoded.hash,
                self.releases.running(app),
                services,
                current=ReleaseSnapshot.decode(current.snapshot).data if current else None,
                current_release_id=current.id if current else None,
                observed=observed,
            )
        except PlanError as exc:
            raise NotFound(str(exc), hint="mooring validate --json lists the services") from None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise not_a_snapshot(exc) from None

    async def with_image_ids(self, app: str, snapshot_text: str) -> str:
        """The snapshot with its container images' current ids, as an apply would pin them (no pull)."""
        try:
            data = ReleaseSnapshot.decode(snapshot_text).data
        except SnapshotError:
            return snapshot_text  # the plan reports it
        if not isinstance(data, dict):
            return snapshot_text
        return json.dumps(
            await pin_images(self.engine.journal, self.engine.supervisor, app, data, pull=False)
        )

    def rollback_preview(self, app: str, release_id: str | None) -> dict[str, Any]:
        """Which release a rollback would restore, and its plan; changes nothing."""
        if not self._known(app):
            raise self.unknown_app(app)
        source, reason = self.releases.rollback_choice(app, release_id)
        return {
            "app": app,
            "source_release": self.releases.view(source, with_targets=False),
            "reason": reason,
            "plan": self.plan(app, source.snapshot, None, read_sources=False, keep_pinned=True),
        }


COUNTED = ("requests", "http_2xx", "http_4xx", "http_5xx", "bytes_in", "bytes_out", "active", "connections")


def route_statuses(services: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``status --json`` ``routes``: each HTTP route of the edge's view with its counters."""
    return [
        {
            "service": svc["service"],
            **{k: r[k] for k in ("host", "path", "port", "tls", "health_path")},
            "servers_up": r["servers"]["up"],
            "servers_total": r["servers"]["total"],
            "counters": {k: int(r["counters"][k]) for k in COUNTED},
        }
        for svc in services
        for r in svc.get("routes", [])
    ]
