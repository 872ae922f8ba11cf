"""The Store: every repository over one engine, opened (and migrated) by `open_store`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from mooring.errors import StoreError
from mooring.store.apps import AppRepository
from mooring.store.audit import AuditRepository
from mooring.store.db import DATABASE_URL_ENV, create_store_engine, database_url, display_url
from mooring.store.events import EventRepository
from mooring.store.instances import Instance, InstanceRepository
from mooring.store.journal_writes import JournalEntry, JournalWriteRepository, ReleaseUpdate
from mooring.store.leases import LeaseRepository
from mooring.store.releases import Release, ReleaseRepository
from mooring.store.schema_version import needs_migration
from mooring.store.secrets import SecretRepository
from mooring.store.settings import SettingRepository
from mooring.store.targets import TargetRepository
from mooring.store.tokens import TokenRepository


class Store(
    AppRepository,
    ReleaseRepository,
    TargetRepository,
    EventRepository,
    JournalWriteRepository,
    InstanceRepository,
    LeaseRepository,
    SecretRepository,
    SettingRepository,
    TokenRepository,
    AuditRepository,
):
    """mooring's state: each method is one short transaction, committed before it returns."""

    # Bumped after every release this process creates or changes (committed or not): the engine keeps
    # what it derives from the live release (published ports) until this moves. The engine is the
    # only writer of releases (DESIGN.md section 2); engines sharing a database do not rely on it.
    release_changes = 0

    def create_release(self, *args: Any, **kwargs: Any) -> Release:
        try:
            return super().create_release(*args, **kwargs)
        finally:
            self.release_changes += 1

    def update_release(self, *args: Any, **kwargs: Any) -> Release:
        try:
            return super().update_release(*args, **kwargs)
        finally:
            self.release_changes += 1

    def write_journal(
        self, entries: Sequence[JournalEntry], upserts: Sequence[Instance] = (), deletes: Sequence[str] = ()
    ) -> None:
        try:
            super().write_journal(entries, upserts, deletes)
        finally:
            if any(isinstance(entry, ReleaseUpdate) for entry in entries):
                self.release_changes += 1

    @property
    def url(self) -> str:
        """Where the state lives, password hidden: for logs and `mooring serve` start-up output."""
        return display_url(self.engine.url)

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, _type: type[BaseException] | None, _value: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.close()


def open_store(url: str | None = None, key_file: Path | None = None) -> Store:
    """Open the state database at the newest schema: ``url``, else $MOORING_DATABASE_URL, else SQLite.

    ``key_file`` is the keyring of secret values (default: store/keyring.py's ``key_file_path``).
    """
    resolved = database_url(url)
    engine = create_store_engine(resolved)
    try:
        if needs_migration(engine):
            # alembic (~11 MiB resident) only when there is something to migrate; upgrade_to_head
            # re-reads the revision under its lock, so two processes still never both migrate.
            from mooring.store.migrate import upgrade_to_head

            upgrade_to_head(engine, key_file)
    except StoreError:
        engine.dispose()
        raise
    except SQLAlchemyError as exc:
        engine.dispose()
        raise StoreError(
            f"cannot open the state database {display_url(resolved)}: {_first_line(exc)}",
            hint=f"check that the database is reachable and writable (set by {DATABASE_URL_ENV}, "
            "else $MOORING_HOME/state.db)",
        ) from exc
    store = Store(engine)
    store.key_path = key_file
    return store


def _first_line(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None)
    return str(orig if orig is not None else exc).strip().splitlines()[0]
