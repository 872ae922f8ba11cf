"""What the kernel says about a pid: ``/proc/<pid>/stat`` and exit notification through pidfds.

Exits are learnt from the event loop (a pidfd becomes readable when its process ends), never by
polling, so a stop costs the kernel's time and not a tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ProcStat:
    """The fields of ``/proc/<pid>/stat`` the runtime needs."""

    pid: int
    comm: str
    state: str  # R, S, D, Z, ...
    ppid: int
    pgid: int
    sid: int
    start_ticks: int  # clock ticks after boot; with the pid it names one process for good

    @property
    def is_zombie(self) -> bool:
        """Ended but not yet reaped by its parent."""
        return self.state in ("Z", "X")


def read_stat(pid: int) -> ProcStat | None:
    """The stat of ``pid``, or ``None`` when no such process exists (any more)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode("utf-8", "replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    # comm may hold spaces and parentheses: it ends at the *last* ')'.
    head, _, tail = raw.rpartition(")")
    comm = head.partition("(")[2]
    fields = tail.split()
    # fields[0] is field 3 (state); starttime is field 22.
    return ProcStat(
        pid=pid,
        comm=comm,
        state=fields[0],
        ppid=int(fields[1]),
        pgid=int(fields[2]),
        sid=int(fields[3]),
        start_ticks=int(fields[19]),
    )


def is_running(pid: int, start_ticks: int | None = None) -> bool:
    """Whether ``pid`` is alive (not a zombie) and, if given, started at ``start_ticks``."""
    stat = read_stat(pid)
    if stat is None or stat.is_zombie:
        return False
    return start_ticks is None or stat.start_ticks == start_ticks


def pidfd_open(pid: int) -> int | None:
    """A pidfd for ``pid`` (close-on-exec), or ``None`` when the process is already gone."""
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        return None


async def wait_readable(fd: int, timeout: float | None) -> bool:
    """Wait until ``fd`` is readable (a pidfd: its process ended); ``False`` on timeout."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def on_ready() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, on_ready)
    try:
        return await settled(ready, timeout)
    finally:
        loop.remove_reader(fd)


async def settled(future: asyncio.Future[Any], timeout: float | None) -> bool:
    """Wait for ``future`` up to ``timeout``; ``False`` on timeout (the future is left as is).

    Unlike ``asyncio.wait_for`` on Python 3.11, a cancellation of the waiting task is never lost
    when the future completes at the same moment.
    """
    done, _ = await asyncio.wait({future}, timeout=timeout)
    return bool(done)


async def wait_gone(pids: Iterable[int], timeout: float) -> list[int]:
    """Wait until every pid has ended; returns those still alive when ``timeout`` ran out."""
    fds: dict[int, int] = {}
    try:
        for pid in pids:
            fd = pidfd_open(pid)
            if fd is not None:
                fds[pid] = fd
        if not fds:
            return []
        waits = {pid: asyncio.ensure_future(wait_readable(fd, timeout)) for pid, fd in fds.items()}
        await asyncio.gather(*waits.values())
        return [pid for pid, done in waits.items() if not done.result()]
    finally:
        for fd in fds.values():
            os.close(fd)


def kill_quietly(pid: int, sig: int) -> bool:
    """Send ``sig`` to ``pid``; ``False`` when it is already gone."""
    try:
        os.kill(pid, sig)
        return True
    except ProcessLookupError:
        return False


def killpg_quietly(pgid: int, sig: int) -> bool:
    """Send ``sig`` to process group ``pgid``; ``False`` when the group has no members left."""
    try:
        os.killpg(pgid, sig)
        return True
    except ProcessLookupError:
        return False


def close_quietly(fd: int | None) -> None:
    """Close ``fd`` if set, ignoring an already closed descriptor."""
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)


def group_members(pgid: int) -> list[int]:
    """Live pids in process group ``pgid``: a scan of /proc, only needed when there is no cgroup."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = read_stat(int(entry))
            if stat is not None and stat.pgid == pgid and not stat.is_zombie:
                found.append(stat.pid)
    return found
