"""Which database holds mooring's state, and engines configured for it.

SQLite (WAL) at ``$MOORING_HOME/state.db`` by default; ``MOORING_DATABASE_URL`` selects another
database, typically PostgreSQL for scale-out.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from mooring.errors import StoreError
from mooring.paths import ensure_home

DATABASE_URL_ENV = "MOORING_DATABASE_URL"
STATE_DB_NAME = "state.db"
SQLITE_BUSY_TIMEOUT_MS = 5000
# How long a write keeps waiting for SQLite's write lock (a backup, an `sqlite3` shell, a slow disk)
# before it gives up with StoreError: the lock is transient, a release must not fail on it.
WRITE_BUDGET_ENV = "MOORING_STORE_WRITE_BUDGET"
DEFAULT_WRITE_BUDGET = 45.0

log = logging.getLogger("mooring.store")

# Execution option set on the engine behind write sessions; see `_begin_sqlite_transaction`.
WRITE_OPTION = "mooring_write"


def database_url(url: str | None = None) -> URL:
    """The URL to use: ``url``, else ``$MOORING_DATABASE_URL``, else SQLite in mooring's home."""
    raw = url or os.environ.get(DATABASE_URL_ENV)
    if not raw:
        return make_url(f"sqlite:///{ensure_home() / STATE_DB_NAME}")
    try:
        parsed = make_url(raw)
    except ArgumentError as exc:
        raise StoreError(
            f"the database URL {raw!r} is not valid: {exc}",
            hint=f"set {DATABASE_URL_ENV} to e.g. postgresql+psycopg://user:pass@host/mooring, "
            "or unset it to use SQLite",
        ) from exc
    if parsed.drivername == "postgresql":
        # psycopg 3 is the driver mooring ships with; SQLAlchemy's bare default is psycopg2.
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def display_url(url: URL) -> str:
    """The URL as safe to print: password hidden."""
    return url.render_as_string(hide_password=True)


def sqlite_path(url: URL) -> Path | None:
    """The database file of a SQLite URL; None for other databases or in-memory SQLite."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def create_store_engine(url: URL) -> Engine:
    """An engine for ``url``; SQLite files are created 0600 and every connection is set up for WAL."""
    backend = url.get_backend_name()
    if backend == "sqlite":
        path = sqlite_path(url)
        if path is not None:
            _prepare_sqlite_file(path)
        engine = create_engine(url)
        event.listen(engine, "connect", _configure_sqlite_connection)
        event.listen(engine, "begin", _begin_sqlite_transaction)
        return engine
    if backend == "postgresql":
        return create_engine(url, pool_pre_ping=True)
    raise StoreError(
        f"mooring cannot keep its state in a {backend!r} database ({display_url(url)})",
        hint=f"use SQLite (unset {DATABASE_URL_ENV}) or PostgreSQL (postgresql+psycopg://...)",
    )


def _prepare_sqlite_file(path: Path) -> None:
    """Create the database file (and its directory) readable by its owner only: it holds secrets."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
        os.close(fd)
        os.chmod(path, 0o600)
    except OSError as exc:
        raise StoreError(
            f"cannot create the state database {path}: {exc.strerror}",
            hint="check that the directory is writable by this user, or set MOORING_HOME elsewhere",
        ) from exc


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    """Per-connection SQLite settings; pragmas other than journal_mode do not persist in the file."""
    # SQLAlchemy emits BEGIN itself (see `_begin_sqlite_transaction`); the driver must not.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        mode = cursor.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() not in ("wal", "memory"):
            raise StoreError(
                f"the state database could not switch to WAL mode (it reports {mode!r})",
                hint="keep the database on a local filesystem; WAL does not work over NFS",
            )
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _begin_sqlite_transaction(connection: Any) -> None:
    """Writes take SQLite's write lock up front, so read-then-write transactions never deadlock.

    Taking it is retried with backoff within the write budget: once it is held, nothing else in
    the transaction waits for another writer (WAL), so retrying the BEGIN retries the whole write.
    """
    if not connection.get_execution_options().get(WRITE_OPTION):
        connection.exec_driver_sql("BEGIN")
        return
    deadline = time.monotonic() + write_budget()
    delay = 0.05
    attempt = 0
    while True:
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
            if attempt:
                log.warning("the state database accepted writes again after %d retries", attempt)
            return
        except (OperationalError, sqlite3.OperationalError) as exc:
            if not _busy(exc) or time.monotonic() + delay >= deadline:
                raise
            attempt += 1
            if attempt == 1:
                log.warning(
                    "the state database is locked by another process; retrying writes for %gs", write_budget()
                )
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


def write_budget() -> float:
    """Seconds a write may wait for SQLite's write lock in all (``$MOORING_STORE_WRITE_BUDGET``)."""
    try:
        return max(0.0, float(os.environ.get(WRITE_BUDGET_ENV, DEFAULT_WRITE_BUDGET)))
    except ValueError:
        return DEFAULT_WRITE_BUDGET


def _busy(exc: BaseException) -> bool:
    text = str(getattr(exc, "orig", None) or exc).lower()
    return "locked" in text or "busy" in text
