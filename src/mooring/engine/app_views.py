"""What the operator reads about an app: its status, the list of apps, marked history, the dry-run plan
and the rollback preview. Read-only: nothing here writes the store or touches an instance."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mooring.engine.releases import LIVE, not_a_snapshot
from mooring.engine.secret_pins import pin_secret_versions
from mooring.errors import NotFound, UsageError
from mooring.manifest.snapshot import canonical_json, content_hash
from mooring.release.plan import PlanError
from mooring.release.preview import ObservedInstance, preview
from mooring.runtime.states import InstanceState
from mooring.store import Release

if TYPE_CHECKING:
    from mooring.engine.core import Engine


class AppViews:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.store = engine.store
        self.releases = engine.releases

    def _known(self, app: str) -> bool:
        return any(a.name == app for a in self.store.list_apps())

    def current_and_previous(self, app: str) -> tuple[Release | None, Release | None]:
        """The newest release, and the newest completed release before it (what rollback restores)."""
        current = self.store.latest_release(app)
        if current is None:
            return None, None
        return current, self.store.last_successful_release(app, before_number=current.number)

    def status(self, app: str) -> dict[str, Any]:
        """``current_release`` (with targets), ``previous_successful_release`` and the app's instances."""
        current, previous = self.current_and_previous(app)
        instances = self.engine.instances(app)
        if current is None and not instances:
            raise NotFound(f"no releases found for app {app!r}", hint="apply it with: mooring up")
        return {
            "app": app,
            "current_release": self.releases.view(current) if current else None,
            "previous_successful_release": (
                self.releases.view(previous, with_targets=False) if previous else None
            ),
            "instances": instances,
            "crons": self.engine.schedules.views(app),
        }

    def apps(self) -> list[dict[str, Any]]:
        """One summary per app: its current release, previous successful release and instance counts."""
        rows = []
        for app in sorted(self.store.list_apps(), key=lambda a: a.name):
            current, previous = self.current_and_previous(app.name)
            entries = self.engine.book.of_app(app.name)
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
        current, previous = self.current_and_previous(app)
        rows = []
        for r in self.store.list_releases(app, limit=limit, before_number=before):
            view = self.releases.view(r, with_targets=False)
            view["current"] = current is not None and r.id == current.id
            view["previous_successful"] = previous is not None and r.id == previous.id
            rows.append(view)
        return rows

    def plan(
        self, app: str, snapshot_text: str, services: Sequence[str] | None, keep_pinned: bool = False
    ) -> dict[str, Any]:
        """The dry-run plan against the current release and what actually runs; writes nothing."""
        try:
            snapshot = json.loads(snapshot_text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"the snapshot is not JSON: {exc}") from None
        try:
            pin_secret_versions(self.store, app, snapshot, keep_pinned=keep_pinned)
        except (AttributeError, TypeError) as exc:
            raise not_a_snapshot(exc) from None
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
                content_hash(canonical_json(snapshot)),
                self.releases.running(app),
                services,
                current=json.loads(current.snapshot) if current else None,
                current_release_id=current.id if current else None,
                observed=observed,
            )
        except PlanError as exc:
            raise NotFound(str(exc), hint="mooring validate --json lists the services") from None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise not_a_snapshot(exc) from None

    def rollback_preview(self, app: str, release_id: str | None) -> dict[str, Any]:
        """Which release a rollback would restore, and its plan; changes nothing."""
        if not self._known(app):
            raise NotFound(f"no releases found for app {app!r}", hint="apply it with: mooring up")
        source = self.releases.rollback_target(app, release_id)
        return {
            "app": app,
            "source_release": self.releases.view(source, with_targets=False),
            "plan": self.plan(app, source.snapshot, None, keep_pinned=True),
        }
