"""Logs of every instance ever run, within a retention per service.

A process instance's log files outlive it (``$MOORING_HOME/logs/<id>.log*``); beside them the
engine keeps ``<id>.meta.json`` (app, service, replica, release, kind, start and end), written when
the instance is booked and completed when it is forgotten. ``mooring logs`` finds replaced, failed
and rolled-back instances, worker and cron runs through it (by name, id or release), and each time
an instance is forgotten the oldest ended ones of its service beyond ``logs.keep`` instances or
``logs.max_size`` bytes are deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger("mooring.engine")

DEFAULT_KEEP = 10  # ended instances per service whose logs are kept
DEFAULT_MAX_SIZE = 100 * 1024 * 1024  # bytes of logs of ended instances per service
META_SUFFIX = ".meta.json"


@dataclass
class LogMeta:
    instance_id: str
    app: str
    service: str
    replica: int
    release_id: str
    kind: str
    started_at: float
    ended_at: float | None = None


Retention = Callable[[LogMeta], tuple[int, int]]  # (keep, max bytes) for the instance's service


class LogCatalog:
    """The entries are read from disk once, then kept in memory: the engine is their only writer, and
    reading every entry at each instance's end made stopping or replacing N instances O(N^2) in file
    reads (docs/performance.md)."""

    def __init__(self, log_dir: Path, files_of: Callable[[str], list[Path]], retention: Retention) -> None:
        self.log_dir = log_dir
        self._files_of = files_of
        self._retention = retention
        self._entries: dict[str, LogMeta] | None = None  # instance id -> entry, once loaded
        # an ended instance's log files and their size: its logs no longer grow
        self._ended_files: dict[str, tuple[list[Path], int]] = {}
        self._due: dict[
            tuple[str, str, str], LogMeta
        ] = {}  # services whose retention is due, one instance each
        self._scheduled = False

    def _index(self) -> dict[str, LogMeta]:
        if self._entries is None:
            entries: dict[str, LogMeta] = {}
            with contextlib.suppress(FileNotFoundError):
                for entry in os.scandir(self.log_dir):
                    if entry.name.endswith(META_SUFFIX) and not entry.name.startswith("."):
                        meta = self._load(entry.name[: -len(META_SUFFIX)])
                        if meta is not None:
                            entries[meta.instance_id] = meta
            self._entries = entries
        return self._entries

    def _path(self, instance_id: str) -> Path:
        return self.log_dir / f"{instance_id}{META_SUFFIX}"

    def _write(self, meta: LogMeta) -> None:
        path = f"{self.log_dir}/{meta.instance_id}{META_SUFFIX}"
        temporary = f"{self.log_dir}/.{meta.instance_id}{META_SUFFIX}.tmp"
        # plain os calls: one entry is written per instance start and end (~20 % of stopping 500
        # through pathlib and text files)
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        except FileNotFoundError:  # no log directory yet (or no more)
            self.log_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)  # beside the logs, as private as they are (an old leftover too)
            os.write(fd, json.dumps(asdict(meta)).encode())
        finally:
            os.close(fd)
        os.replace(temporary, path)
        self._index()[meta.instance_id] = meta

    def read(self, instance_id: str) -> LogMeta | None:
        return self._index().get(instance_id)

    def _load(self, instance_id: str) -> LogMeta | None:
        try:
            return LogMeta(**json.loads(self._path(instance_id).read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def started(self, meta: LogMeta) -> None:
        """An instance is booked (a restart after adoption keeps its first start)."""
        if meta.instance_id in self._index():
            return
        try:
            self._write(meta)
        except OSError:
            log.warning("cannot record the log catalog entry of %s", meta.instance_id, exc_info=True)

    def ended(self, instance_id: str) -> None:
        """An instance is forgotten: stamp its end, then apply its service's retention.

        In the engine's loop the retention runs once per service at the end of the loop turn, not
        once per instance: stopping 500 instances ended 500 of them, and pruning after each was a
        quarter of the engine's time (docs/performance.md). Nobody can ask for the logs between.
        """
        meta = self.read(instance_id)
        if meta is None:
            return
        if meta.ended_at is None:
            meta.ended_at = time.time()
            with contextlib.suppress(OSError):
                self._write(meta)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # outside a loop (tools, tests): at once
            self.prune(meta)
            return
        self._due.setdefault((meta.app, meta.service, meta.kind), meta)
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self.prune_due)

    def prune_due(self) -> None:
        """Apply the retention of every service with an instance ended since the last time."""
        due, self._due, self._scheduled = self._due, {}, False
        for meta in due.values():
            try:
                self.prune(meta)
            except OSError:
                log.warning("log retention of %s/%s failed", meta.app, meta.service, exc_info=True)

    def all(self, app: str) -> list[LogMeta]:
        """Every catalogued instance of ``app`` (live or ended), oldest first."""
        found = [m for m in self._index().values() if m.app == app]
        return sorted(found, key=lambda m: (m.started_at, m.instance_id))

    def prune(self, like: LogMeta) -> list[str]:
        """Delete the oldest ended instances of ``like``'s service past its retention; their ids."""
        keep, max_size = self._retention(like)
        ended = [
            m for m in self.all(like.app) if m.service == like.service and m.kind == like.kind and m.ended_at
        ]
        ended.sort(key=lambda m: m.ended_at or 0, reverse=True)  # newest first
        kept, size, dropped = 0, 0, []
        for meta in ended:
            files, bytes_ = self._files_and_size(meta.instance_id)
            if kept < keep and size + bytes_ <= max_size:
                kept += 1
                size += bytes_
                continue
            for path in files:
                path.unlink(missing_ok=True)
            self._path(meta.instance_id).unlink(missing_ok=True)
            self._index().pop(meta.instance_id, None)
            self._ended_files.pop(meta.instance_id, None)
            dropped.append(meta.instance_id)
        return dropped

    def _files_and_size(self, instance_id: str) -> tuple[list[Path], int]:
        """An ended instance's log files and their total size, looked up once (they no longer change)."""
        known = self._ended_files.get(instance_id)
        if known is None:
            files = self._files_of(instance_id)
            sizes = 0
            for path in files:
                with contextlib.suppress(FileNotFoundError):
                    sizes += path.stat().st_size
            known = self._ended_files[instance_id] = (files, sizes)
        return known
