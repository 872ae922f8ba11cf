"""Scheduled backups: ``[backup]`` of ``$MOORING_HOME/engine.toml``, written by the engine, with retention.

```toml
[backup]
every = "6h"                      # required to schedule; a duration of at least 1s
dir = "/var/backups/mooring"      # default: $MOORING_HOME/backups
keep = 7                          # newest backups kept; older ones are deleted (default 7)
passphrase_file = "/etc/mooring/backup.pass"   # optional: encrypt them
```
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL

from mooring.backup.archive import BackupError
from mooring.backup.ops import make_backup
from mooring.manifest.durations import parse_duration

PREFIX = "mooring-backup-"


@dataclass(frozen=True)
class BackupSchedule:
    every: float
    directory: Path
    keep: int
    passphrase_file: Path | None


def read_schedule(home: Path) -> BackupSchedule | None:
    """The ``[backup]`` table of engine.toml, or None when backups are not scheduled."""
    path = home / "engine.toml"
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BackupError(f"{path}: cannot read it: {exc}") from None
    table = data.get("backup")
    if table is None:
        return None
    if not isinstance(table, dict):
        raise BackupError(f"{path}: backup must be a table ([backup])")
    unknown = set(table) - {"every", "dir", "keep", "passphrase_file"}
    if unknown:
        raise BackupError(
            f"{path}: backup.{sorted(unknown)[0]}: unknown key (known: every, dir, keep, passphrase_file)"
        )
    try:
        every = parse_duration(str(table.get("every", "")))
    except ValueError as exc:
        raise BackupError(f"{path}: backup.every: {exc}") from None
    if every < 1:
        raise BackupError(f"{path}: backup.every: must be at least 1s (got {table['every']!r})")
    keep = table.get("keep", 7)
    if not isinstance(keep, int) or isinstance(keep, bool) or keep < 1:
        raise BackupError(f"{path}: backup.keep: must be an integer >= 1 (got {keep!r})")
    passphrase = table.get("passphrase_file")
    return BackupSchedule(
        every=every,
        directory=Path(str(table.get("dir") or home / "backups")).expanduser(),
        keep=keep,
        passphrase_file=Path(str(passphrase)).expanduser() if passphrase else None,
    )


def read_passphrase(path: Path) -> bytes:
    try:
        secret = path.read_bytes().rstrip(b"\r\n")
    except OSError as exc:
        raise BackupError(f"cannot read the passphrase file {path}: {exc.strerror or exc}") from None
    if not secret:
        raise BackupError(f"the passphrase file {path} is empty")
    return secret


def run_scheduled(home: Path, url: URL, schedule: BackupSchedule, now: dt.datetime | None = None) -> Path:
    """Write one backup into the schedule's directory, then delete the oldest beyond ``keep``."""
    passphrase = read_passphrase(schedule.passphrase_file) if schedule.passphrase_file else None
    blob, _ = make_backup(home, url, passphrase)
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%S%fZ")
    schedule.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = schedule.directory / f"{PREFIX}{stamp}.tar.gz{'.enc' if passphrase else ''}"
    write_private(target, blob)
    prune(schedule.directory, schedule.keep)
    return target


def prune(directory: Path, keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest scheduled backups (by the time in their name)."""
    backups = sorted(p for p in directory.glob(f"{PREFIX}*") if not p.name.endswith(".partial"))
    removed = backups[: max(len(backups) - keep, 0)]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def write_private(target: Path, blob: bytes) -> None:
    """Write ``blob`` to ``target`` mode 0600, atomically (a reader never sees half a backup)."""
    partial = target.with_name(target.name + ".partial")
    fd = os.open(partial, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(blob)
        handle.flush()
        os.fsync(handle.fileno())
    partial.replace(target)
