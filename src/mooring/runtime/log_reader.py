"""Reading instance logs for ``mooring logs``: tail, since a time, follow, and replicas interleaved.

Every line starts with a fixed-width RFC 3339 UTC timestamp, so comparing and merging lines by
time is comparing their first 27 characters.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import os
from collections.abc import AsyncGenerator, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

from .logs import DEFAULT_KEEP, LogNotifier, LogPaths, stamp

STAMP_WIDTH = len("2026-11-26T15:35:01.123456Z")
_BLOCK = 64 * 1024


def timestamp_of(line: str) -> str:
    """The line's timestamp as text (sortable); ``""`` for a line without one."""
    head = line[:STAMP_WIDTH]
    return head if len(head) == STAMP_WIDTH and head.endswith("Z") else ""


def as_stamp(since: str | float | datetime) -> str:
    """A timestamp in the log's own format, from text, epoch seconds or a datetime."""
    if isinstance(since, datetime):
        aware = since if since.tzinfo else since.replace(tzinfo=UTC)
        return stamp(aware.timestamp())
    if isinstance(since, int | float):
        return stamp(float(since))
    return as_stamp(datetime.fromisoformat(since.replace("Z", "+00:00")))


def _last_lines(path: Path, n: int, end: int | None = None) -> list[str]:
    """The last ``n`` lines of ``path`` (up to byte ``end``), read backwards in blocks."""
    if n <= 0:
        return []
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return []
    try:
        pos = os.fstat(fd).st_size if end is None else end
        data = b""
        while pos > 0 and data.count(b"\n") <= n:
            step = min(_BLOCK, pos)
            pos -= step
            data = os.pread(fd, step, pos) + data
    finally:
        os.close(fd)
    lines = data.decode("utf-8", "replace").splitlines()
    return lines[-n:]


class LogReader:
    """Reads the logs under ``log_dir``; with the writer's notifier, ``follow`` wakes on writes."""

    def __init__(self, log_dir: Path, notifier: LogNotifier | None = None, keep: int = DEFAULT_KEEP) -> None:
        self.log_dir = log_dir
        self.notifier = notifier
        self.keep = keep

    def files(self, instance_id: str) -> list[Path]:
        """The instance's log files, oldest first (``.log.<keep>`` ... ``.log.1``, ``.log``)."""
        current = LogPaths.for_instance(self.log_dir, instance_id).log
        rotated = [current.with_name(f"{current.name}.{n}") for n in range(self.keep, 0, -1)]
        return [p for p in [*rotated, current] if p.exists()]

    def read_tail(self, instance_id: str, n: int) -> list[str]:
        """The last ``n`` lines, across rotated files, oldest first."""
        found: list[str] = []
        for path in reversed(self.files(instance_id)):
            found = _last_lines(path, n - len(found)) + found
            if len(found) >= n:
                break
        return found

    def read_since(self, instance_id: str, since: str | float | datetime) -> list[str]:
        """Every line stamped at or after ``since`` (RFC 3339 text, epoch seconds or a datetime)."""
        cut = as_stamp(since)
        found: list[str] = []
        for path in self.files(instance_id):
            last = _last_lines(path, 1)
            if last and timestamp_of(last[0]) < cut:
                continue  # the whole file is older
            with open(path, encoding="utf-8", errors="replace") as f:
                found.extend(line.rstrip("\n") for line in f if timestamp_of(line) >= cut)
        return found

    async def follow(
        self,
        instance_id: str,
        *,
        tail: int = 0,
        poll_interval: float = 0.5,
        since: str | float | datetime | None = None,
    ) -> AsyncGenerator[str, None]:
        """Yield the last ``tail`` lines, then every new line as it is written, across rotations.

        With ``since``, start instead at the first line stamped at or after it (a client resuming
        a lost follow): read from the same open file, so no line written meanwhile is missed.
        Wakes on the writer's notifier when there is one (same process); otherwise, or for a
        writer elsewhere, checks every ``poll_interval`` seconds.
        """
        cut = as_stamp(since) if since is not None else None
        path = LogPaths.for_instance(self.log_dir, instance_id).log
        fd: int | None = None
        try:
            waited = False
            while fd is None:
                with contextlib.suppress(FileNotFoundError):
                    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                if fd is None:
                    waited = True
                    await self._wait(instance_id, self._generation(instance_id), poll_interval)
            # A log that appeared while we waited is new from its first byte.
            pos = 0 if waited or cut is not None else os.fstat(fd).st_size
            if cut is not None:
                for path_before in self.files(instance_id)[:-1]:  # rotated files, oldest first
                    with open(path_before, encoding="utf-8", errors="replace") as f:
                        for text in f:
                            if timestamp_of(text) >= cut:
                                yield text.rstrip("\n")
            for line in self._tail_before(instance_id, 0 if cut is not None else tail, pos):
                yield line
            pending = b""
            while True:
                generation = self._generation(instance_id)
                data = os.pread(fd, _BLOCK, pos)
                if data:
                    pos += len(data)
                    pending += data
                    *complete, pending = pending.split(b"\n")
                    for raw in complete:
                        line = raw.decode("utf-8", "replace")
                        if cut is not None:
                            if timestamp_of(line) < cut:
                                continue  # older than where the client resumes
                            cut = None  # lines are in time order: the rest is newer
                        yield line
                    continue
                if self._rotated(path, fd):
                    os.close(fd)
                    fd, pos, pending = os.open(path, os.O_RDONLY | os.O_CLOEXEC), 0, b""
                    continue
                await self._wait(instance_id, generation, poll_interval)
        finally:
            if fd is not None:
                os.close(fd)

    def _tail_before(self, instance_id: str, n: int, end: int) -> list[str]:
        if n <= 0:
            return []
        files = self.files(instance_id)
        found = _last_lines(files[-1], n, end) if files else []
        for path in reversed(files[:-1]):
            if len(found) >= n:
                break
            found = _last_lines(path, n - len(found)) + found
        return found

    @staticmethod
    def _rotated(path: Path, fd: int) -> bool:
        try:
            return path.stat().st_ino != os.fstat(fd).st_ino
        except FileNotFoundError:
            return False  # mid-rotation: the new file is not there yet

    def _generation(self, instance_id: str) -> int:
        return self.notifier.generation(instance_id) if self.notifier else 0

    async def _wait(self, instance_id: str, generation: int, poll_interval: float) -> None:
        if self.notifier is not None:
            await self.notifier.wait_past(instance_id, generation, max(poll_interval, 1.0))
        else:
            await asyncio.sleep(poll_interval)

    async def follow_many(
        self,
        labelled: Mapping[str, str],
        *,
        tail: int = 0,
        poll_interval: float = 0.5,
        since: str | float | datetime | None = None,
    ) -> AsyncGenerator[str, None]:
        """Follow several instances (``{"web-1": instance_id}``), lines prefixed ``web-1 | ``.

        ``since`` starts each at its first line stamped at or after it, instead of the ``tail``.
        """
        width = max((len(label) for label in labelled), default=0)
        if tail and since is None:
            history = {label: self.read_tail(iid, tail) for label, iid in labelled.items()}
            for line in interleave(history):
                yield line
        queue: asyncio.Queue[str] = asyncio.Queue()

        async def pump(label: str, instance_id: str) -> None:
            async for line in self.follow(instance_id, poll_interval=poll_interval, since=since):
                await queue.put(f"{label.ljust(width)} | {line}")

        tasks = [asyncio.create_task(pump(label, iid)) for label, iid in labelled.items()]
        try:
            while True:
                yield await queue.get()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


def interleave(sources: Mapping[str, Iterable[str]]) -> Iterator[str]:
    """Merge several instances' lines by timestamp, each prefixed with its label: ``web-1 | ...``."""
    width = max((len(label) for label in sources), default=0)

    def labelled(label: str, lines: Iterable[str]) -> Iterator[tuple[str, str]]:
        for line in lines:
            yield timestamp_of(line), f"{label.ljust(width)} | {line}"

    for _, line in heapq.merge(*(labelled(label, lines) for label, lines in sources.items())):
        yield line
