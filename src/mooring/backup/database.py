"""Copy the state database while the engine runs, and open a copy to check it.

SQLite: the sqlite3 online backup API copies one consistent moment of the database, even while
the engine commits (WAL readers never block the writer). PostgreSQL: ``pg_dump`` in its custom
format, which is one consistent snapshot by design, and ``pg_restore`` to put it back.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import URL

from mooring.backup.archive import BackupError
from mooring.store.db import create_store_engine, display_url, sqlite_path

COUNTED = ("apps", "releases", "targets", "events", "secret_values", "api_tokens")
SQLITE_MEMBER = "state.db"
POSTGRES_MEMBER = "state.pgdump"


def libpq_url(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def copy_database(url: URL) -> tuple[str, bytes, dict[str, Any]]:
    """(member name, bytes, facts) of a consistent copy of the database at ``url``."""
    path = sqlite_path(url)
    if url.get_backend_name() == "sqlite":
        if path is None or not path.is_file():
            raise BackupError(f"there is no state database at {path}", hint="is MOORING_HOME right?")
        with tempfile.TemporaryDirectory(prefix="mooring-backup-") as tmp:
            copy = Path(tmp) / SQLITE_MEMBER
            source = sqlite3.connect(path, timeout=30)
            target = sqlite3.connect(copy)
            try:
                source.backup(target)
                target.execute("PRAGMA journal_mode = DELETE")  # one self-contained file, no -wal
                facts = sqlite_facts(target)
            finally:
                target.close()
                source.close()
            return SQLITE_MEMBER, copy.read_bytes(), {"database": "sqlite", **facts}
    pg_dump = _tool("pg_dump")
    done = subprocess.run(
        [pg_dump, "--format=custom", "--no-owner", "--no-privileges", f"--dbname={libpq_url(url)}"],
        capture_output=True,
        timeout=3600,
    )
    if done.returncode != 0:
        raise BackupError(
            f"pg_dump of {display_url(url)} failed: {done.stderr.decode(errors='replace').strip()}"
        )
    return POSTGRES_MEMBER, done.stdout, {"database": "postgresql", **_postgres_facts(url)}


def sqlite_facts(connection: sqlite3.Connection) -> dict[str, Any]:
    """Schema revision and row counts; raises BackupError when the copy is not a sound mooring store."""
    try:
        check = connection.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            raise BackupError(f"the database copy fails SQLite's integrity check: {check}")
        revision = connection.execute("SELECT version_num FROM alembic_version").fetchone()[0]
        counts = {
            table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in COUNTED
        }
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"the database copy cannot be read as a mooring store: {exc}") from None
    return {"schema_revision": revision, "counts": counts}


def _postgres_facts(url: URL) -> dict[str, Any]:
    engine = create_store_engine(url)
    try:
        with engine.connect() as connection:
            revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
            counts = {t: connection.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in COUNTED}
    finally:
        engine.dispose()
    return {"schema_revision": revision, "counts": counts}


def open_copy(member: str, data: bytes) -> dict[str, Any]:
    """Open a database copy on the side (never the live store) and return what it holds."""
    with tempfile.TemporaryDirectory(prefix="mooring-verify-") as tmp:
        path = Path(tmp) / member
        path.write_bytes(data)
        if member == SQLITE_MEMBER:
            connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                return sqlite_facts(connection)
            finally:
                connection.close()
        listing = subprocess.run([_tool("pg_restore"), "--list", str(path)], capture_output=True, timeout=600)
        if listing.returncode != 0:
            raise BackupError(
                f"pg_restore cannot read the dump: {listing.stderr.decode(errors='replace').strip()}"
            )
        return {"entries": len(listing.stdout.splitlines())}


def put_sqlite(data: bytes, path: Path) -> None:
    """Write a database copy as the store at ``path`` (mode 0600), without -wal/-shm leftovers."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    partial = path.with_name(path.name + ".restoring")
    partial.write_bytes(data)
    partial.chmod(0o600)
    partial.replace(path)  # atomic: the store is the old file or the whole new one


def put_postgres(data: bytes, url: URL) -> None:
    with tempfile.NamedTemporaryFile(prefix="mooring-restore-", suffix=".pgdump") as dump:
        dump.write(data)
        dump.flush()
        done = subprocess.run(
            [_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--no-privileges",
             "--single-transaction", f"--dbname={libpq_url(url)}", dump.name],
            capture_output=True, timeout=3600,
        )  # fmt: skip
    if done.returncode != 0:
        raise BackupError(
            f"pg_restore into {display_url(url)} failed: {done.stderr.decode(errors='replace').strip()}"
        )


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        for directory in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
            if (directory / name).is_file():
                return str(directory / name)
        raise BackupError(
            f"{name} is not installed", hint="install PostgreSQL's client tools (Debian: postgresql-client)"
        )
    return found
