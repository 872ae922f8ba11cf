"""Backups of mooring's state: the store (SQLite online copy or pg_dump), the secret store's key and
engine.toml, checksummed and optionally encrypted; verify and restore (docs/backup.md)."""

from mooring.backup.archive import BackupError
from mooring.backup.ops import engine_running, make_backup, restore, verify

__all__ = ["BackupError", "engine_running", "make_backup", "restore", "verify"]
