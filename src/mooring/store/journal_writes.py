"""Group commit of a release's journal: target changes, release changes and events in one transaction.

The executor queues what one event-loop turn journals (every target moving in a batch of 100, their
events, the release's counters) and writes it here at once: one transaction, bulk statements built
once, no ORM row loaded. Writing each change in its own transaction (three per target transition)
was most of a rollout's engine time at N = 500 (docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, Update, bindparam, func, select
from sqlalchemy.orm import Session

from mooring.errors import NotFound, StoreError
from mooring.masking import masker
from mooring.store.apps import lock_app
from mooring.store.base import StoreBase
from mooring.store.columns import utcnow
from mooring.store.instances import Instance, check_instances, write_instance_rows
from mooring.store.releases import clean_release_changes
from mooring.store.tables import AppRow, EventRow, ReleaseRow, TargetRow
from mooring.store.targets import clean_target_changes

# Core tables and statements built once: no ORM object is loaded, no statement built per commit
_TARGETS = cast(Table, TargetRow.__table__)
_EVENTS = cast(Table, EventRow.__table__)
_RELEASES = cast(Table, ReleaseRow.__table__)
_APPS = cast(Table, AppRow.__table__)
_LOCK_APP = select(_APPS.c.id).where(_APPS.c.name == bindparam("name")).with_for_update()
_LAST_APP_SEQ = select(func.max(_EVENTS.c.app_seq)).where(_EVENTS.c.app_id == bindparam("app_id"))
_LAST_RELEASE_SEQ = select(func.max(_EVENTS.c.release_seq)).where(
    _EVENTS.c.release_id == bindparam("release_id")
)
_RELEASE_APP = select(_RELEASES.c.app_id).where(_RELEASES.c.id == bindparam("release_id"))
_INSERT_EVENTS = _EVENTS.insert()
_TARGET_UPDATES: dict[tuple[str, ...], Update] = {}  # by the set of columns changed


@dataclass(frozen=True, slots=True)
class TargetUpdate:
    """Change these fields of target ``target_id`` (see `TargetChanges`)."""

    target_id: int
    changes: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ReleaseUpdate:
    """Change these fields of release ``release_id`` (see `ReleaseChanges`)."""

    release_id: str
    changes: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class NewEvent:
    """Append this event (numbered in the order given)."""

    app: str
    type: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    release_id: str | None = None


JournalEntry = TargetUpdate | ReleaseUpdate | NewEvent


class JournalWriteRepository(StoreBase):
    """Write a run of journal entries in one transaction, committed before it returns."""

    def write_journal(
        self,
        entries: Sequence[JournalEntry],
        upserts: Sequence[Instance] = (),
        deletes: Sequence[str] = (),
    ) -> None:
        """Apply ``entries`` as one transaction: all of them or none.

        A later change of the same field supersedes an earlier one, as if each had been written in
        turn; events are numbered in the order given, after the app's and the release's last ones.
        ``upserts`` and ``deletes`` are instance rows of the same loop turn, written in the same
        transaction (see `InstanceRepository.write_instances`): one commit for both.
        """
        targets: dict[int, dict[str, Any]] = {}
        releases: dict[str, dict[str, Any]] = {}
        events: list[NewEvent] = []
        for entry in entries:
            if isinstance(entry, TargetUpdate):
                targets.setdefault(entry.target_id, {}).update(clean_target_changes(entry.changes))
            elif isinstance(entry, ReleaseUpdate):
                releases.setdefault(entry.release_id, {}).update(clean_release_changes(entry.changes))
            else:
                if not entry.type:
                    raise StoreError("an event needs a type")
                events.append(entry)
        if not (targets or releases or events or upserts or deletes):
            return
        check_instances(list(upserts))
        what = f"record {len(targets)} target change(s), {len(releases)} release change(s), {len(events)} event(s)"
        if upserts or deletes:
            what += f", {len(upserts)} instance(s) and forget {len(deletes)}"
        with self._write(what) as session:
            if upserts or deletes:
                write_instance_rows(session, list(upserts), list(deletes))
            now = utcnow()
            _update_targets(session, targets, now)
            connection = session.connection()
            for release_id, values in releases.items():
                statement = _RELEASES.update().where(_RELEASES.c.id == release_id)
                if connection.execute(statement.values(**values, updated_at=now)).rowcount == 0:
                    raise NotFound(f"no release with id {release_id!r}")
            self._append_events(session, events, now)

    def _append_events(self, session: Session, events: list[NewEvent], now: Any) -> None:
        if not events:
            return
        connection = session.connection()
        app_ids: dict[str, int] = {}
        app_seqs: dict[int, int] = {}
        release_seqs: dict[str, int] = {}
        rows: list[dict[str, Any]] = []
        for event in events:
            app_id = app_ids.get(event.app)
            if app_id is None:
                # appenders queue on the app's row lock (see `lock_app`, which also creates a new app)
                found = connection.execute(_LOCK_APP, {"name": event.app}).scalar()
                app_id = app_ids[event.app] = found if found is not None else lock_app(session, event.app).id
                app_seqs[app_id] = connection.execute(_LAST_APP_SEQ, {"app_id": app_id}).scalar() or 0
            release_seq: int | None = None
            if event.release_id is not None:
                if event.release_id not in release_seqs:
                    owner = connection.execute(_RELEASE_APP, {"release_id": event.release_id}).scalar()
                    if owner is None:
                        raise NotFound(f"no release with id {event.release_id!r}")
                    if owner != app_id:
                        raise StoreError(
                            f"cannot record a {event.type!r} event for app {event.app!r} against release "
                            f"{event.release_id}: that release belongs to another app"
                        )
                    last = connection.execute(_LAST_RELEASE_SEQ, {"release_id": event.release_id}).scalar()
                    release_seqs[event.release_id] = last or 0
                release_seq = release_seqs[event.release_id] = release_seqs[event.release_id] + 1
            app_seqs[app_id] += 1
            rows.append(
                {
                    "app_id": app_id,
                    "app_seq": app_seqs[app_id],
                    "release_id": event.release_id,
                    "release_seq": release_seq,
                    "type": event.type,
                    "payload": masker.mask_data(dict(event.payload)),  # never a secret value
                    "created_at": now,
                    "epoch": self.epoch,  # which leader wrote it (None on a single engine)
                }
            )
        connection.execute(_INSERT_EVENTS, rows)


def _update_targets(session: Session, targets: dict[int, dict[str, Any]], now: Any) -> None:
    """One executemany per set of changed columns (a batch's transitions mostly share one)."""
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for target_id, values in targets.items():
        columns = tuple(sorted(values))
        by_columns.setdefault(columns, []).append(
            {"b_id": target_id, "b_now": now, **{f"b_{c}": v for c, v in values.items()}}
        )
    for columns, params in by_columns.items():
        statement = _TARGET_UPDATES.get(columns)
        if statement is None:
            statement = _TARGET_UPDATES[columns] = (
                _TARGETS.update()
                .where(_TARGETS.c.id == bindparam("b_id"))  # not a column's name: SQLAlchemy reserves those
                .values({**{c: bindparam(f"b_{c}") for c in columns}, "updated_at": bindparam("b_now")})
            )
        result = session.connection().execute(statement, params)
        if 0 <= result.rowcount < len(params):
            raise NotFound(f"no target with one of the ids {sorted(p['b_id'] for p in params)}")
