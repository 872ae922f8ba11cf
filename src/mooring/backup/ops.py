"""Make, verify and restore a backup of mooring's state (docs/backup.md)."""

from __future__ import annotations

import datetime as dt
import socket
import struct
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

from mooring import __version__
from mooring.backup import database, home_files
from mooring.backup.archive import Backup, BackupError, encrypt, pack, unpack
from mooring.paths import mooring_home
from mooring.store.db import database_url, display_url, sqlite_path


def make_backup(home: Path, url: URL, passphrase: bytes | None = None) -> tuple[bytes, dict[str, Any]]:
    """The backup bytes (encrypted when a passphrase is given) and its index."""
    member, data, facts = database.copy_database(url)
    members = {member: data, **home_files.collect(home)}
    index = {
        "home_files": sorted(m[len(home_files.PREFIX) :] for m in members if m.startswith(home_files.PREFIX)),
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "mooring_version": __version__,
        "host": socket.gethostname(),
        "source": display_url(url),
        **facts,
    }
    blob = pack(members, index)
    return (encrypt(blob, passphrase) if passphrase else blob), index


def verify(blob: bytes, source: str, passphrase: bytes | None = None) -> dict[str, Any]:
    """Check integrity and open the database copy on the side; change nothing. Raises BackupError."""
    backup = unpack(blob, source, passphrase)
    member = _database_member(backup, source)
    opened = database.open_copy(member, backup.members[member])
    recorded = backup.index.get("counts")
    if "counts" in opened and recorded is not None and opened["counts"] != recorded:
        raise BackupError(
            f"{source} is damaged: its database holds {opened['counts']}, its index recorded {recorded}"
        )
    return {
        "file": source,
        "encrypted": backup.encrypted,
        "created_at": backup.index.get("created_at"),
        "database": backup.index.get("database"),
        "schema_revision": backup.index.get("schema_revision"),
        "counts": recorded,
        "home_files": sorted(
            m[len(home_files.PREFIX) :] for m in backup.members if m.startswith(home_files.PREFIX)
        ),
        "members": backup.index["members"],
    }


def engine_running(home: Path) -> int | None:
    """The pid of the engine answering on ``home``'s socket (0 when it cannot be told), else None."""
    path = home / "engine.sock"
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
        creds = probe.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        return int(struct.unpack("3i", creds)[0])
    except OSError:
        return None
    finally:
        probe.close()


def restore(
    blob: bytes, source: str, home: Path, url: URL, *, passphrase: bytes | None = None, force: bool = False
) -> dict[str, Any]:
    """Verify, then put the backup's database and home files in place. Refused onto a running engine."""
    report = verify(blob, source, passphrase)
    pid = engine_running(home)
    if pid is not None:
        raise BackupError(
            f"a mooring engine (pid {pid}) is running on {home} and answers at {home / 'engine.sock'};"
            " restoring under it would pull its state from under it",
            hint=f"stop the engine first (kill -TERM {pid}, or stop the mooring service; instances keep running),"
            " run the restore again, then start the engine",
        )
    backup = unpack(blob, source, passphrase)
    member = _database_member(backup, source)
    kept: str | None = None
    if member == database.SQLITE_MEMBER:
        if url.get_backend_name() != "sqlite":
            raise BackupError(
                f"{source} holds a SQLite store, but this mooring uses {display_url(url)}",
                hint="unset MOORING_DATABASE_URL to restore into SQLite",
            )
        path = sqlite_path(url)
        assert path is not None
        if path.exists() and path.stat().st_size > 0:
            if not force:
                raise BackupError(
                    f"{path} already holds a state database; restoring replaces it",
                    hint="pass --force to replace it (the current file is kept beside it as state.db.before-restore-TIME)",
                )
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
            kept = str(path.with_name(f"{path.name}.before-restore-{stamp}"))
            path.rename(kept)
        database.put_sqlite(backup.members[member], path)
    else:
        if url.get_backend_name() != "postgresql":
            raise BackupError(
                f"{source} holds a PostgreSQL dump, but this mooring uses {display_url(url)}",
                hint="set MOORING_DATABASE_URL to the PostgreSQL database to restore into",
            )
        if not force:
            raise BackupError(
                f"restoring replaces every mooring table in {display_url(url)}",
                hint="pass --force to replace them",
            )
        database.put_postgres(backup.members[member], url)
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    written = home_files.put(backup.members, home)
    return {
        **report,
        "restored_to": display_url(url),
        "home_files_written": written,
        "previous_kept_as": kept,
    }


def _database_member(backup: Backup, source: str) -> str:
    for member in (database.SQLITE_MEMBER, database.POSTGRES_MEMBER):
        if member in backup.members:
            return member
    raise BackupError(f"{source} holds no database ({sorted(backup.members)})")


def backup_here(passphrase: bytes | None = None) -> tuple[bytes, dict[str, Any]]:
    """A backup of this host's store (``$MOORING_HOME``, ``$MOORING_DATABASE_URL``)."""
    return make_backup(mooring_home(), database_url(), passphrase)


def restore_here(
    blob: bytes, source: str, *, passphrase: bytes | None = None, force: bool = False
) -> dict[str, Any]:
    """Restore into this host's store (``$MOORING_HOME``, ``$MOORING_DATABASE_URL``)."""
    return restore(blob, source, mooring_home(), database_url(), passphrase=passphrase, force=force)
