"""One instance's cgroup directories: who is inside, killing them all, usage facts, removal."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from .proc import close_quietly, pidfd_open, wait_gone


def read_text(path: str | Path) -> str | None:
    """The content of a cgroup file, or ``None`` when it cannot be read."""
    # One open+read+close, without pathlib's text wrapper: `ps` reads a few of these per instance.
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        return os.read(fd, 65536).decode()
    except OSError:
        return None
    finally:
        os.close(fd)


def write_text(path: str | Path, value: str) -> str | None:
    """Write a cgroup file in one ``write(2)``; returns the error in words, or ``None`` on success."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)  # as `echo value > file` does
    except OSError as exc:
        return exc.strerror or str(exc)
    try:
        os.write(fd, value.encode())
        return None
    except OSError as exc:
        return exc.strerror or str(exc)
    finally:
        os.close(fd)


def read_keyed(path: str, key: str) -> int | None:
    """The value of ``key`` in a flat-keyed cgroup file such as ``memory.events`` or ``cpu.stat``."""
    text = read_text(path)
    if text is None:
        return None
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            return int(value)
    return None


def read_int(path: str) -> int | None:
    """A cgroup file holding one integer."""
    text = read_text(path)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class CgroupDir:
    """The instance's directory in one hierarchy and the controllers it uses there.

    The directory is kept as a string and its files are joined on demand: a ``Path`` per directory
    (and per file) cost ~0.4 KiB each, times three or four hierarchies, times every instance. The
    controller sets are shared between instances (``CgroupHost`` interns them).
    """

    dir: str
    version: int
    controllers: frozenset[str]  # controllers whose limits and counters live here
    hierarchy_controllers: frozenset[str]  # everything the hierarchy has (v1 "cpu,cpuacct", ...)

    @property
    def path(self) -> Path:
        """The directory as a ``Path`` (made on each call: for tests and rare paths)."""
        return Path(self.dir)

    def file(self, name: str) -> str:
        """The path of one of its files, e.g. ``cgroup.procs``."""
        return f"{self.dir}/{name}"

    def members(self) -> set[int]:
        """Pids of the live processes in this directory (zombies are not listed by the kernel)."""
        text = read_text(self.file("cgroup.procs"))
        return {int(pid) for pid in text.split()} if text else set()


class InstanceCgroup:
    """The directories of one instance across hierarchies, with what was (not) applied."""

    __slots__ = ("dirs", "limits_applied", "limits_note")

    def __init__(self, dirs: list[CgroupDir], limits_applied: bool, limits_note: str) -> None:
        self.dirs = dirs
        self.limits_applied = limits_applied
        self.limits_note = limits_note

    @property
    def paths(self) -> list[str]:
        """The directories as strings, for the instance record."""
        return [d.dir for d in self.dirs]

    @property
    def procs_files(self) -> list[str]:
        """Every ``cgroup.procs`` a new process must write its pid to before it execs."""
        return [d.file("cgroup.procs") for d in self.dirs]

    def dir_for(self, controller: str) -> CgroupDir | None:
        """The directory where ``controller``'s files are, if that controller is in use."""
        return next((d for d in self.dirs if controller in d.controllers), None)

    def members(self) -> set[int]:
        """Pids of every live process of the instance, whichever hierarchy lists it."""
        found: set[int] = set()
        for d in self.dirs:
            found |= d.members()
        return found

    def contains(self, pid: int) -> bool:
        """Whether ``pid`` is in the instance's first (grouping) directory."""
        return bool(self.dirs) and pid in self.dirs[0].members()

    async def kill_all(self, timeout: float = 10.0) -> list[int]:
        """SIGKILL every member until none is left; returns pids that outlived ``timeout``.

        With v2's ``cgroup.kill`` the kernel kills the whole group at once, new forks included;
        otherwise each listed pid is killed through a pidfd opened *before* re-checking membership,
        so a pid reused by an unrelated process is never signalled.
        """
        deadline = time.monotonic() + timeout
        for d in self.dirs:
            if d.version == 2 and os.path.exists(d.file("cgroup.kill")):
                write_text(d.file("cgroup.kill"), "1")
        while True:
            listed = self.members()
            if not listed:
                return []
            fds = {pid: fd for pid in listed if (fd := pidfd_open(pid)) is not None}
            try:
                still = self.members()
                for pid, fd in fds.items():
                    if pid in still:
                        with contextlib.suppress(ProcessLookupError):
                            signal.pidfd_send_signal(fd, signal.SIGKILL)
            finally:
                for fd in fds.values():
                    close_quietly(fd)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return sorted(self.members())
            if await wait_gone(listed, remaining):
                return sorted(self.members())
            if not fds:  # listed, yet none could be opened: gone already, so yield rather than spin
                await asyncio.sleep(0.001)

    def oom_kills(self) -> int | None:
        """How many processes the kernel's OOM killer has killed in this group so far."""
        d = self.dir_for("memory")
        if d is None:
            return None
        if d.version == 2:
            return read_keyed(d.file("memory.events"), "oom_kill")
        count = read_keyed(d.file("memory.oom_control"), "oom_kill")
        # Kernels before 4.13 have no oom_kill line: fall back to "times the limit was hit".
        return count if count is not None else read_int(d.file("memory.failcnt"))

    def memory_bytes(self) -> int | None:
        """Memory charged to the group (RSS plus page cache), as the kernel counts it for the limit."""
        d = self.dir_for("memory")
        if d is None:
            return None
        return read_int(d.file("memory.current" if d.version == 2 else "memory.usage_in_bytes"))

    def cpu_seconds(self) -> float | None:
        """CPU time used by every process that ever ran in the group."""
        for d in self.dirs:
            if d.version == 2:
                usec = read_keyed(d.file("cpu.stat"), "usage_usec")
                if usec is not None:
                    return usec / 1e6
            elif "cpuacct" in d.hierarchy_controllers:
                nsec = read_int(d.file("cpuacct.usage"))
                if nsec is not None:
                    return nsec / 1e9
        return None

    def remove(self) -> str:
        """Remove the directories (and the app's, when it is left empty); the failures, in words."""
        problems = []
        for d in self.dirs:
            try:
                os.rmdir(d.dir)
            except FileNotFoundError:
                pass
            except OSError as exc:
                problems.append(f"cannot remove cgroup {d.dir}: {exc.strerror}")
                continue
            with contextlib.suppress(OSError):
                os.rmdir(os.path.dirname(d.dir))  # the app's directory, once its last instance is gone
        return "; ".join(problems)
