"""Backups of mooring's state: the store (SQLite online copy or pg_dump), the secret store's key and
engine.toml, checksummed and optionally encrypted; verify and restore (docs/backup.md)."""

from mooring.backup.archive import BackupError
from mooring.backup.ops import backup_here, engine_running, make_backup, restore, restore_here, verify

__all__ = ["BackupError", "backup_here", "engine_running", "make_backup", "restore", "restore_here", "verify"]
