"""Events: the append-only log of transitions, numbered per app (for resumable streams) and per release."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, func, select

from mooring.errors import StoreError
from mooring.masking import masker
from mooring.store.apps import lock_app
from mooring.store.base import StoreBase
from mooring.store.columns import utcnow
from mooring.store.releases import release_app_id
from mooring.store.tables import AppRow, EventRow


@dataclass(frozen=True, slots=True)
class Event:
    """One recorded transition."""

    app: str
    app_seq: int
    release_id: str | None
    release_seq: int | None
    type: str
    payload: dict[str, Any]
    created_at: datetime


class EventRepository(StoreBase):
    """Append events and read them back in order, without gaps or duplicates."""

    def append_event(
        self, app: str, type: str, payload: Mapping[str, Any], release_id: str | None = None
    ) -> tuple[int, int | None]:
        """Append an event and commit; returns its (app_seq, release_seq), release_seq None without a release.

        Both numbers are max+1 taken under the app's lock (see `lock_app`), so concurrent
        appenders queue instead of colliding, and a reader never sees seq N+1 before seq N.
        """
        if not type:
            raise StoreError("an event needs a type")
        payload = masker.mask_data(dict(payload))  # probe output, exit messages: never a secret value
        with self._write(f"record a {type!r} event for app {app!r}") as session:
            app_row = lock_app(session, app)
            release_seq: int | None = None
            if release_id is not None:
                # only the owner is checked: loading the whole release (snapshot included) for every
                # event was a tenth of a rolling restart's journal time (docs/performance.md)
                if release_app_id(session, release_id) != app_row.id:
                    raise StoreError(
                        f"cannot record a {type!r} event for app {app!r} against release {release_id}: "
                        "that release belongs to another app"
                    )
                last_in_release = session.scalar(
                    select(func.max(EventRow.release_seq)).where(EventRow.release_id == release_id)
                )
                release_seq = (last_in_release or 0) + 1
            last_in_app = session.scalar(
                select(func.max(EventRow.app_seq)).where(EventRow.app_id == app_row.id)
            )
            app_seq = (last_in_app or 0) + 1
            session.add(
                EventRow(
                    app_id=app_row.id,
                    app_seq=app_seq,
                    release_id=release_id,
                    release_seq=release_seq,
                    type=type,
                    payload=dict(payload),
                    created_at=utcnow(),
                    epoch=self.epoch,  # which leader wrote it (None on a single engine)
                )
            )
            return app_seq, release_seq

    def events_since(self, app: str, since_seq: int = 0, limit: int = 500) -> list[Event]:
        """Up to ``limit`` of the app's events after ``since_seq``, oldest first: how a stream resumes."""
        # A Core statement built once, rows as tuples: the engine's event tail and every follower of
        # a release read here after each commit (docs/performance.md)
        with self._read(f"read events of app {app!r}") as session:
            rows = session.connection().execute(_SINCE, {"app": app, "since": since_seq, "limit": limit})
            return [
                Event(name, seq, rid, rseq, type_, payload, at)
                for seq, rid, rseq, type_, payload, at, name in rows
            ]

    def latest_event_seq(self, app: str) -> int:
        """The app's newest event number, 0 if none: where a new stream starts when it wants no backlog."""
        with self._read(f"read events of app {app!r}") as session:
            query = (
                select(func.max(EventRow.app_seq))
                .join(AppRow, AppRow.id == EventRow.app_id)
                .where(AppRow.name == app)
            )
            return session.scalar(query) or 0

    def release_events(self, release_id: str) -> list[Event]:
        """Every event of one release in order: its timeline for `mooring history`."""
        with self._read(f"read events of release {release_id}") as session:
            release_app_id(session, release_id)  # NotFound for an unknown release
            query = _select().where(EventRow.release_id == release_id).order_by(EventRow.release_seq)
            return [_record(row, name) for row, name in session.execute(query)]


_EVENTS = cast(Table, EventRow.__table__)
_APPS = cast(Table, AppRow.__table__)
_SINCE = (
    select(
        _EVENTS.c.app_seq,
        _EVENTS.c.release_id,
        _EVENTS.c.release_seq,
        _EVENTS.c.type,
        _EVENTS.c.payload,
        _EVENTS.c.created_at,
        _APPS.c.name,
    )
    .join(_APPS, _APPS.c.id == _EVENTS.c.app_id)
    .where(_APPS.c.name == bindparam("app"), _EVENTS.c.app_seq > bindparam("since"))
    .order_by(_EVENTS.c.app_seq)
    .limit(bindparam("limit"))
)


def _select() -> Select[EventRow, str]:
    return select(EventRow, AppRow.name).join(AppRow, AppRow.id == EventRow.app_id)


def _record(row: EventRow, app: str) -> Event:
    return Event(
        app=app,
        app_seq=row.app_seq,
        release_id=row.release_id,
        release_seq=row.release_seq,
        type=row.type,
        payload=row.payload,
        created_at=row.created_at,
    )
