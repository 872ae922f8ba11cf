"""Apps: the unit everything else belongs to, created on first use."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mooring.errors import NotFound, StoreError
from mooring.store.base import StoreBase, insert_for
from mooring.store.columns import utcnow
from mooring.store.tables import AppRow


@dataclass(frozen=True, slots=True)
class App:
    """An app as recorded in the store."""

    id: int
    name: str
    created_at: datetime
    updated_at: datetime


class AppRepository(StoreBase):
    """Create, get and list apps."""

    def get_or_create_app(self, name: str) -> App:
        """The app called ``name``, recorded now if it is new."""
        with self._write(f"record app {name!r}") as session:
            return _record(lock_app(session, name))

    def get_app(self, name: str) -> App:
        """The app called ``name``; NotFound if nothing was ever applied under that name."""
        with self._read(f"read app {name!r}") as session:
            row = session.scalars(select(AppRow).where(AppRow.name == name)).one_or_none()
            if row is None:
                raise NotFound(
                    f"no app named {name!r}", hint="`mooring apps` lists the apps this engine knows"
                )
            return _record(row)

    def list_apps(self) -> list[App]:
        """Every app, by name."""
        with self._read("list apps") as session:
            return [_record(row) for row in session.scalars(select(AppRow).order_by(AppRow.name))]


def lock_app(session: Session, name: str) -> AppRow:
    """Insert the app if new, then lock its row: every per-app write (numbers, sequences, lease) queues here.

    On PostgreSQL this is a row lock (SELECT ... FOR UPDATE); on SQLite the write transaction
    already holds the database's single write lock, and FOR UPDATE is a no-op.
    """
    if not name or not name.strip():
        raise StoreError("an app needs a non-empty name")
    locked = select(AppRow).where(AppRow.name == name).with_for_update()
    row = session.scalars(locked).one_or_none()
    if row is None:
        # Insert-if-absent rather than a plain INSERT: another process may be creating it too.
        now = utcnow()
        session.execute(
            insert_for(session, AppRow)
            .values(name=name, created_at=now, updated_at=now)
            .on_conflict_do_nothing(index_elements=["name"])
        )
        row = session.scalars(locked).one()
    return row


def find_app_id(session: Session, name: str) -> int | None:
    """The id of the app called ``name``, or None: reads of an unknown app find nothing, they do not fail."""
    return session.scalar(select(AppRow.id).where(AppRow.name == name))


def _record(row: AppRow) -> App:
    return App(id=row.id, name=row.name, created_at=row.created_at, updated_at=row.updated_at)
