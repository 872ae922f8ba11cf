"""Releases: immutable snapshots of an app, numbered per app, with their recorded outcome."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict, Unpack

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from mooring.errors import NotFound, StoreError
from mooring.masking import masker
from mooring.store.apps import lock_app
from mooring.store.base import StoreBase, as_tuple, check_choice, plain_changes
from mooring.store.columns import utcnow
from mooring.store.tables import (
    RELEASE_CONTROLS,
    RELEASE_SCOPES,
    RELEASE_STATUSES,
    RELEASE_TRIGGERS,
    AppRow,
    ReleaseRow,
)


@dataclass(frozen=True, slots=True)
class Release:
    """A release as recorded: what was asked (snapshot) and how far it got (status, counters)."""

    id: str
    app: str
    number: int
    snapshot: str
    manifest_hash: str
    status: str
    control: str
    trigger: str
    source_release_id: str | None
    superseded_by: str | None
    resumed_count: int
    scope: str | None
    service_filter: tuple[str, ...] | None
    message: str
    targets_total: int
    targets_ready: int
    targets_failed: int
    targets_unchanged: int
    targets_removed: int
    targets_pending: int
    failure: dict[str, Any] | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime


class ReleaseChanges(TypedDict, total=False):
    """The fields `update_release` may change; snapshot, number, trigger and lineage are immutable."""

    status: str
    control: str
    superseded_by: str | None
    resumed_count: int
    scope: str | None
    service_filter: Sequence[str] | None
    message: str
    targets_total: int
    targets_ready: int
    targets_failed: int
    targets_unchanged: int
    targets_removed: int
    targets_pending: int
    failure: dict[str, Any] | None
    started_at: datetime | None
    finished_at: datetime | None


UPDATABLE_FIELDS = frozenset(ReleaseChanges.__annotations__)


def new_release_id() -> str:
    """12 lowercase hex characters from 6 random bytes."""
    return os.urandom(6).hex()


class ReleaseRepository(StoreBase):
    """Record releases and their progress; read them back for history, status and recovery."""

    def create_release(
        self,
        app: str,
        *,
        snapshot: str,
        manifest_hash: str,
        trigger: str = "apply",
        source_release_id: str | None = None,
        scope: str | None = None,
        service_filter: Sequence[str] | None = None,
        message: str = "",
        release_id: str | None = None,
    ) -> Release:
        """Record a new `pending` release of ``app`` (created if new) with the next number for that app."""
        check_choice("release trigger", trigger, RELEASE_TRIGGERS)
        check_choice("release scope", scope, RELEASE_SCOPES, nullable=True)
        with self._write(f"record a new release of app {app!r}") as session:
            app_row = lock_app(session, app)
            if source_release_id is not None:
                source, source_app = _load(session, source_release_id)
                if source.app_id != app_row.id:
                    raise StoreError(
                        f"release {source_release_id} belongs to app {source_app!r}, "
                        f"not {app!r}: a rollback can only restore a release of the same app"
                    )
            if release_id is not None:
                if session.get(ReleaseRow, release_id) is not None:
                    raise StoreError(f"a release with id {release_id} already exists")
            else:
                release_id = new_release_id()
                while session.get(ReleaseRow, release_id) is not None:
                    release_id = new_release_id()  # 48 random bits: a collision is rare, but not impossible
            last = session.scalar(select(func.max(ReleaseRow.number)).where(ReleaseRow.app_id == app_row.id))
            now = utcnow()
            row = ReleaseRow(
                id=release_id,
                app_id=app_row.id,
                number=(last or 0) + 1,
                snapshot=snapshot,
                manifest_hash=manifest_hash,
                status="pending",
                control="active",
                trigger=trigger,
                source_release_id=source_release_id,
                scope=scope,
                service_filter=list(service_filter) if service_filter is not None else None,
                message=message,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            app_row.updated_at = now
            session.flush()
            return _record(row, app)

    def get_release(self, release_id: str) -> Release:
        """The release with this id; NotFound naming the id otherwise."""
        with self._read(f"read release {release_id}") as session:
            return _record(*_load(session, release_id))

    def latest_release(self, app: str) -> Release | None:
        """The app's highest-numbered release, or None if it has none."""
        page = self.list_releases(app, limit=1)
        return page[0] if page else None

    def list_releases(self, app: str, limit: int = 20, before_number: int | None = None) -> list[Release]:
        """One page of the app's releases, newest first; pass the last number seen to get the next page."""
        with self._read(f"list releases of app {app!r}") as session:
            query = _select().where(AppRow.name == app)
            if before_number is not None:
                query = query.where(ReleaseRow.number < before_number)
            query = query.order_by(ReleaseRow.number.desc()).limit(limit)
            return [_record(row, name) for row, name in session.execute(query)]

    def find_releases(
        self,
        *,
        status: str | Iterable[str] | None = None,
        control: str | Iterable[str] | None = None,
        app: str | None = None,
    ) -> list[Release]:
        """Releases in any of these statuses and controls, e.g. in_progress + active to resume at start-up."""
        statuses, controls = as_tuple(status), as_tuple(control)
        with self._read("find releases") as session:
            query = _select()
            if statuses is not None:
                query = query.where(ReleaseRow.status.in_(statuses))
            if controls is not None:
                query = query.where(ReleaseRow.control.in_(controls))
            if app is not None:
                query = query.where(AppRow.name == app)
            query = query.order_by(AppRow.name, ReleaseRow.number)
            return [_record(row, name) for row, name in session.execute(query)]

    def release_counts(self) -> dict[tuple[str, str], int]:
        """How many releases each (app, status) has: the metrics' gauge, one grouped query."""
        with self._read("count releases") as session:
            query = (
                select(AppRow.name, ReleaseRow.status, func.count())
                .join(AppRow, AppRow.id == ReleaseRow.app_id)
                .group_by(AppRow.name, ReleaseRow.status)
            )
            return {(app, status): int(n) for app, status, n in session.execute(query)}

    def last_successful_release(self, app: str, before_number: int | None = None) -> Release | None:
        """The newest `completed` release below ``before_number``: what a rollback restores."""
        with self._read(f"find the last successful release of app {app!r}") as session:
            query = _select().where(AppRow.name == app, ReleaseRow.status == "completed")
            if before_number is not None:
                query = query.where(ReleaseRow.number < before_number)
            result = session.execute(query.order_by(ReleaseRow.number.desc()).limit(1)).first()
            return _record(*result) if result else None

    def update_release(self, release_id: str, **changes: Unpack[ReleaseChanges]) -> Release:
        """Change only the given fields (the others keep their stored values), commit, return the result."""
        values = clean_release_changes(changes)
        with self._write(f"update release {release_id}") as session:
            row, app = _load(session, release_id, lock=True)
            for field, value in values.items():
                setattr(row, field, value)
            row.updated_at = utcnow()
            session.flush()
            return _record(row, app)


def clean_release_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    """The changes as stored: known fields only, valid choices, message and failure masked."""
    values = plain_changes("release", changes, UPDATABLE_FIELDS)
    if isinstance(values.get("message"), str):
        values["message"] = masker.mask(values["message"])
    if values.get("failure") is not None:
        values["failure"] = masker.mask_data(values["failure"])
    if "status" in values:
        check_choice("release status", values["status"], RELEASE_STATUSES)
    if "control" in values:
        check_choice("release control", values["control"], RELEASE_CONTROLS)
    if "scope" in values:
        check_choice("release scope", values["scope"], RELEASE_SCOPES, nullable=True)
    if values.get("service_filter") is not None:
        values["service_filter"] = list(values["service_filter"])
    return values


def _select() -> Select[ReleaseRow, str]:
    return select(ReleaseRow, AppRow.name).join(AppRow, AppRow.id == ReleaseRow.app_id)


def _load(session: Session, release_id: str, *, lock: bool = False) -> tuple[ReleaseRow, str]:
    """The release row and its app's name; NotFound naming the id."""
    query = _select().where(ReleaseRow.id == release_id)
    if lock:
        query = query.with_for_update(of=ReleaseRow, key_share=True)  # FK checks by appenders still pass
    result = session.execute(query).one_or_none()
    if result is None:
        raise NotFound(
            f"no release with id {release_id!r}",
            hint="`mooring history --app NAME` lists the releases of an app",
        )
    return result


def release_app_id(session: Session, release_id: str) -> int:
    """The id of the app a release belongs to, without loading the release; NotFound naming the id."""
    app_id = session.scalar(select(ReleaseRow.app_id).where(ReleaseRow.id == release_id))
    if app_id is None:
        raise NotFound(
            f"no release with id {release_id!r}",
            hint="`mooring history --app NAME` lists the releases of an app",
        )
    return app_id


def require_release(session: Session, release_id: str) -> ReleaseRow:
    """The release row, for repositories that attach rows to a release; NotFound naming the id."""
    return _load(session, release_id)[0]


def _record(row: ReleaseRow, app: str) -> Release:
    return Release(
        id=row.id,
        app=app,
        number=row.number,
        snapshot=row.snapshot,
        manifest_hash=row.manifest_hash,
        status=row.status,
        control=row.control,
        trigger=row.trigger,
        source_release_id=row.source_release_id,
        superseded_by=row.superseded_by,
        resumed_count=row.resumed_count,
        scope=row.scope,
        service_filter=tuple(row.service_filter) if row.service_filter is not None else None,
        message=row.message,
        targets_total=row.targets_total,
        targets_ready=row.targets_ready,
        targets_failed=row.targets_failed,
        targets_unchanged=row.targets_unchanged,
        targets_removed=row.targets_removed,
        targets_pending=row.targets_pending,
        failure=row.failure,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        updated_at=row.updated_at,
    )
