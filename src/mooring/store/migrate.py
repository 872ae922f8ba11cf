"""Bring a database's schema to the newest revision, safely when several processes start at once.

Imported only when a migration must run (`store.schema_version` says whether): alembic and its
dependencies stay out of an engine whose store is already at the newest schema.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, text

from mooring.store.db import WRITE_OPTION
from mooring.store.schema_version import current_revision, head_revision

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

# Any fixed number: PostgreSQL advisory lock serialising concurrent migrations (b"moor").
PG_MIGRATION_LOCK = 0x6D6F6F72


def alembic_config() -> Config:
    """An alembic configuration pointing at the migrations shipped inside the package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def upgrade_to_head(engine: Engine, key_file: Path | None = None) -> None:
    """Apply pending migrations in one transaction; a second process waits, then finds nothing to do."""
    config = alembic_config()
    before = current_revision(engine)
    # On SQLite the write option makes the transaction BEGIN IMMEDIATE: the write lock is taken
    # before alembic reads its version table, so two processes cannot both decide to migrate.
    with engine.execution_options(**{WRITE_OPTION: True}).connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # SQLite alters a table by copying it and dropping the old one, and with foreign keys on
            # that DROP fails for any table other rows point at (releases, in a store with targets
            # and events). The pragma only takes effect outside a transaction: on the raw connection.
            _sqlite_pragma(connection, "PRAGMA foreign_keys = OFF")
        try:
            with connection.begin():
                if connection.dialect.name == "postgresql":
                    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_MIGRATION_LOCK})
                config.attributes["connection"] = connection
                config.attributes["key_file"] = key_file  # for 0004, which encrypts plaintext secrets
                command.upgrade(config, "head")
                if sqlite:  # what the checks did not guard meanwhile, checked once, before the commit
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"the migrated store breaks its foreign keys: {broken[:5]}")
        finally:
            if sqlite:
                _sqlite_pragma(connection, "PRAGMA foreign_keys = ON")
    if engine.dialect.name == "sqlite" and before != head_revision():
        # A migration may have rewritten rows (0004 encrypts plaintext secrets): fold the WAL into
        # the file and empty it, so the old frames do not stay readable in state.db-wal.
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def _sqlite_pragma(connection: Connection, pragma: str) -> None:
    """Run a pragma on the DBAPI connection itself (SQLAlchemy would wrap it in a transaction)."""
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(pragma)
    finally:
        cursor.close()
