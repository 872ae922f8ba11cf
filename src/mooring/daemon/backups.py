"""The engine's scheduled backups (``[backup]`` of engine.toml; docs/backup.md): one every ``every``,
the oldest beyond ``keep`` deleted. A failed backup is logged and retried at the next interval."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from mooring.backup.archive import BackupError
from mooring.backup.schedule import BackupSchedule, read_schedule, run_scheduled
from mooring.store.db import database_url

log = logging.getLogger("mooring.engine")


def start_scheduled_backups(home: Path) -> asyncio.Task[None] | None:
    try:
        schedule = read_schedule(home)
    except BackupError as exc:
        log.error("scheduled backups are OFF: %s", exc.message)
        return None
    if schedule is None:
        return None
    log.warning("backing up every %ss into %s, keeping %d", schedule.every, schedule.directory, schedule.keep)
    return asyncio.create_task(_loop(home, schedule), name="scheduled-backups")


async def _loop(home: Path, schedule: BackupSchedule) -> None:
    url = database_url()
    while True:
        await asyncio.sleep(schedule.every)
        try:
            path = await asyncio.to_thread(run_scheduled, home, url, schedule)
        except Exception as exc:  # a full disk or a broken passphrase file must not stop the engine
            log.error("scheduled backup failed: %s", exc)
        else:
            log.info("scheduled backup written: %s", path)
