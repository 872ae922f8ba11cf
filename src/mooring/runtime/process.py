"""Starting one process of an instance and learning when it ends.

Spawning stays on CPython's vfork path (``subprocess.Popen`` without ``preexec_fn``): about 4x
cheaper than a real fork. When the instance has cgroups, the process joins them *before* it execs
the command through a tiny ``/bin/sh`` wrapper (no window in which it runs outside its limits),
and reports on its stdin pipe which ``cgroup.procs`` it could not join.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import signal
import stat
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .fd_watch import fd_watch
from .instance_cgroup import InstanceCgroup
from .proc import (
    close_quietly,
    group_members,
    is_running,
    kill_quietly,
    pidfd_open,
    read_stat,
    settled,
    wait_gone,
)
from .spec import InstanceSpec

SHELL = "/bin/sh"
# argv: sh -c WRAPPER mooring-spawn <n> <procs file>*n <executable> <args>...
# Joining needs no fork: `echo`, `[` and `exec` are shell builtins. The status pipe is the
# wrapper's stdin; the exec's `</dev/null` closes it, so the engine sees EOF exactly then.
SPAWN_WRAPPER = (
    'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ >"$1" || echo "$1" >&0; shift; n=$((n-1)); done; '
    'exec "$@" </dev/null'
)
# With a user to switch to, the child is that user before the wrapper runs and may not move itself
# into a cgroup: the engine writes its pid to each cgroup.procs, then lets it go on with a line on
# its stdin (the gate). It still execs the command only once it is inside its cgroups.
GATED_WRAPPER = 'read -r go || exit 125; exec "$@" </dev/null'
WRAPPER_NAME = "mooring-spawn"
EXEC_FAILED_CODES = (126, 127)  # what sh exits with when `exec` cannot run the command


class StartFailure(Exception):
    """The process could not be started; ``str()`` says why, for the instance record."""


def resolve_executable(program: str, env: Mapping[str, str], cwd: str) -> str:
    """The absolute path ``program`` runs as, searched like execvp does with the *instance's* PATH."""
    if "/" in program:
        candidates = [os.path.join(cwd, program)]
    else:
        search = env.get("PATH") or os.defpath
        candidates = [os.path.join(d or ".", program) for d in search.split(":")]
        candidates = [c if os.path.isabs(c) else os.path.join(cwd, c) for c in candidates]
    denied = None
    for path in candidates:
        try:
            info = os.stat(path)
        except OSError:
            continue
        if not stat.S_ISREG(info.st_mode):
            continue
        if os.access(path, os.X_OK):
            return os.path.normpath(path)
        denied = path
    if denied is not None:
        raise StartFailure(f"{denied} is not executable (permission denied)")
    if "/" in program:
        raise StartFailure(f"command not found: {program} (relative to working dir {cwd})")
    raise StartFailure(f"command not found: {program!r} is in none of PATH={env.get('PATH') or os.defpath}")


def preflight(spec: InstanceSpec) -> str:
    """Check what would make exec fail, so it is reported as a start failure; returns the executable."""
    if not os.path.isdir(spec.working_dir):
        raise StartFailure(f"working directory {spec.working_dir} does not exist or is not a directory")
    return resolve_executable(spec.command[0], spec.env, spec.working_dir)


@dataclass(frozen=True)
class ProcessEnd:
    """How a process ended: Popen's returncode (negative: killed by that signal) when known."""

    returncode: int | None  # None: not our child (adopted), the kernel gives us no status
    exec_failed: bool = False  # the cgroup wrapper could not exec the command


# When the pidfd turned readable a moment before the exit was waitable (rare), look again after this.
RECHECK_DELAY = 0.005
# While a stop waits for the exit, also look at the process directly this often, in case the
# pidfd's notification never comes (a reader lost on the event loop): a safety net, not the path.
LIVENESS_CHECK_INTERVAL = 0.25


class ProcessHandle:
    """One live process of an instance: its identity, a pidfd that tells its end, and signals.

    The process leads its own session and process group (``pgid == pid``), so a group signal
    reaches its descendants unless one of them left the group (the cgroup catches those).

    The pidfd is watched on the event loop only while this handle owns it: the reader is removed
    before the fd is closed, and nothing re-registers it by bare fd number later (a number that
    may by then belong to a pipe, socket or pidfd of someone else, whose reader ``add_reader``
    would silently replace).
    """

    __slots__ = (
        "_end",
        "_loop",
        "_pidfd",
        "_popen",
        "_recheck",
        "_watching",
        "_wrapped_exe",
        "pid",
        "start_ticks",
    )

    def __init__(
        self,
        pid: int,
        start_ticks: int,
        pidfd: int,
        popen: subprocess.Popen[bytes] | None,
        wrapped_exe: str | None = None,
    ) -> None:
        self.pid = pid
        self.start_ticks = start_ticks
        self._pidfd: int | None = pidfd
        self._popen = popen
        self._wrapped_exe = wrapped_exe
        self._end: asyncio.Future[ProcessEnd] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watching = False  # our reader is registered on self._pidfd
        self._recheck: asyncio.TimerHandle | None = None

    @classmethod
    def adopt(cls, pid: int, start_ticks: int) -> ProcessHandle | None:
        """A handle on a process started by an earlier engine, if ``pid`` is still *that* process."""
        fd = pidfd_open(pid)
        if fd is None:
            return None
        # Checked after pidfd_open: the pidfd now pins this process, so if the start time matches,
        # every later signal goes to the process that was recorded and never to a reused pid.
        found = read_stat(pid)
        if found is None or found.is_zombie or found.start_ticks != start_ticks:
            os.close(fd)
            return None
        return cls(pid, start_ticks, fd, None)

    def ended(self) -> asyncio.Future[ProcessEnd]:
        """A future resolved from the event loop (the pidfd turns readable) when the process ends.

        Our own child is left unreaped (a zombie) until :meth:`release`, so its pid and process
        group id cannot be reused while its leftovers are being killed.
        """
        if self._end is None:
            self._loop = asyncio.get_running_loop()
            self._end = self._loop.create_future()
            if self._pidfd is None:
                self._end.set_result(ProcessEnd(None))
            else:
                self._watch()
        return self._end

    def _watch(self) -> None:
        """Register our reader on our pidfd, unless it is closed, already watched or the end known."""
        self._recheck = None
        if (
            self._pidfd is None
            or self._loop is None
            or self._watching
            or self._end is None
            or self._end.done()
        ):
            return
        fd_watch(self._loop).add_reader(self._pidfd, self._on_pidfd_readable)
        self._watching = True

    def _unwatch(self) -> None:
        """Remove our reader (only ours: the fd is still open and ours) and any pending re-check."""
        if self._recheck is not None:
            self._recheck.cancel()
            self._recheck = None
        if self._watching:
            self._watching = False
            if self._loop is not None and self._pidfd is not None and not self._loop.is_closed():
                fd_watch(self._loop).remove_reader(self._pidfd)

    def _on_pidfd_readable(self) -> None:
        if not self._watching:  # a stale wake-up after close(): the fd is not ours to touch
            return
        self._unwatch()
        if not self.check_ended() and self._loop is not None:
            # Readable a moment before the exit is waitable: look again shortly. A timer we own
            # (cancelled by close()), never a callback that re-registers the fd number later.
            self._recheck = self._loop.call_later(RECHECK_DELAY, self._watch)

    def check_ended(self) -> bool:
        """Look at the process itself (not at notifications): ``True`` once its end is known.

        Resolves :meth:`ended` when the process has ended: the pidfd reads as ended, or ``/proc``
        shows no such process, a zombie, or another process under the pid.
        """
        if self._end is None:
            self.ended()
        assert self._end is not None
        if self._end.done():
            return True
        if self._popen is None:
            if self._pidfd_says_ended() or not is_running(self.pid, self.start_ticks):
                self._end.set_result(ProcessEnd(None))
            return self._end.done()
        try:
            info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:  # reaped behind our back (SIGCHLD set to SIG_IGN, a waitpid(-1))
            self._end.set_result(ProcessEnd(None))
            return True
        if info is None:
            return False
        code = info.si_status if info.si_code == os.CLD_EXITED else -info.si_status
        # The zombie still carries its name: "sh" means the cgroup wrapper never exec'd the command.
        zombie = read_stat(self.pid)
        exec_failed = (
            self._wrapped_exe is not None
            and code in EXEC_FAILED_CODES
            and zombie is not None
            and zombie.comm == "sh"
            and os.path.basename(self._wrapped_exe) not in ("sh", "dash")
        )
        self._end.set_result(ProcessEnd(code, exec_failed))
        return True

    def _pidfd_says_ended(self) -> bool:
        if self._pidfd is None:
            return True
        poller = select.poll()
        poller.register(self._pidfd, select.POLLIN)
        return bool(poller.poll(0))

    async def wait_ended(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for the end; ``True`` if it is known.

        The pidfd's notification is the normal path. If it never comes (a lost reader), the
        process is looked at directly every :data:`LIVENESS_CHECK_INTERVAL`, so the wait ends at
        most that late, and never past ``timeout``.
        """
        ended = self.ended()
        deadline = time.monotonic() + max(0.0, timeout)
        while not self.check_ended():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            await settled(ended, min(remaining, LIVENESS_CHECK_INTERVAL))
        return True

    def signal(self, sig: int) -> bool:
        """Send ``sig`` to the process itself through its pidfd; ``False`` if it has ended."""
        if self._pidfd is None:
            return False
        try:
            signal.pidfd_send_signal(self._pidfd, sig)
            return True
        except ProcessLookupError:
            return False

    def signal_group(self, sig: int) -> None:
        """Send ``sig`` to the process and to its process group (its descendants that stayed in it)."""
        self.signal(sig)
        # The pgid is surely still ours while our child is unreaped, or an adopted leader is alive.
        if self._pidfd is not None and (self._popen is not None or not (self._end and self._end.done())):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, sig)

    def release(self) -> None:
        """Reap the ended process (when it is our child) and release the pidfd."""
        if self._popen is not None and self._popen.returncode is None and self._end and self._end.done():
            self._popen.poll()
        self.close()

    def close(self) -> None:
        """Stop watching and release the pidfd; the process itself is left alone.

        The reader is removed (and a pending re-check cancelled) *before* the fd is closed, so no
        callback of ours can land on the fd number once it is reused.
        """
        self._unwatch()
        if self._pidfd is not None:
            close_quietly(self._pidfd)
            self._pidfd = None


async def _read_status(fd: int, timeout: float) -> str | None:
    """Everything the wrapper writes to its status pipe until EOF; ``None`` on timeout."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[str] = loop.create_future()
    chunks: list[bytes] = []

    def on_readable() -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        if data:
            chunks.append(data)
        elif not done.done():
            done.set_result(b"".join(chunks).decode("utf-8", "replace"))

    os.set_blocking(fd, False)
    loop.add_reader(fd, on_readable)
    try:
        if await settled(done, timeout):
            return done.result()
        # After a freeze of the engine (SIGSTOP, a VM pause) the timer and the pipe are ready at once and
        # the timer may win: what the wrapper wrote while the engine did not run still counts.
        while True:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                return None  # the wrapper really has not finished
            if not data:
                return b"".join(chunks).decode("utf-8", "replace")
            chunks.append(data)
    finally:
        loop.remove_reader(fd)


@dataclass
class Spawned:
    """A started process and the cgroups it failed to join (normally none)."""

    handle: ProcessHandle
    join_failures: list[str]


async def spawn(
    spec: InstanceSpec,
    executable: str,
    stdout_fd: int,
    stderr_fd: int,
    procs_files: list[str],
    *,
    wrapper_timeout: float = 10.0,
) -> Spawned:
    """Start the instance's command in its own session, in its cgroups, with its env and cwd.

    Returns once the command is exec'd (or, with the wrapper, about to be); raises
    :class:`StartFailure` when it cannot be started at all.
    """
    argv = [executable, *spec.command[1:]]

    def start(args: list[str], stdin: int) -> subprocess.Popen[bytes]:
        # user/group/extra_groups: setgroups, setgid, setuid in the child before exec. CPython then
        # forks instead of vforking (slower, only for instances that switch user).
        return subprocess.Popen(
            args,
            stdin=stdin,
            stdout=stdout_fd,
            stderr=stderr_fd,
            env=dict(spec.env),
            cwd=spec.working_dir,
            close_fds=True,
            start_new_session=True,
            user=spec.uid,
            group=spec.gid,
            extra_groups=list(spec.groups) if spec.groups is not None else None,
        )

    if procs_files and spec.uid is not None:
        return await _spawn_gated(start, argv, executable, procs_files)
    if not procs_files:
        try:
            popen = start(argv, subprocess.DEVNULL)
        except OSError as exc:
            raise StartFailure(f"cannot run {executable}: {exc.strerror or exc}") from None
        return Spawned(_handle_for(popen, None), [])

    status_r, status_w = os.pipe()
    try:
        wrapped = [SHELL, "-c", SPAWN_WRAPPER, WRAPPER_NAME, str(len(procs_files)), *procs_files, *argv]
        try:
            popen = start(wrapped, status_w)
        except OSError as exc:
            raise StartFailure(f"cannot run the spawn wrapper {SHELL}: {exc.strerror or exc}") from None
        os.close(status_w)
        status_w = -1
        status = await _read_status(status_r, wrapper_timeout)
    finally:
        close_quietly(status_r)
        if status_w >= 0:
            close_quietly(status_w)
    if status is None:
        popen.kill()
        popen.wait()
        raise StartFailure(
            f"the spawn wrapper did not reach exec within {wrapper_timeout:g}s"
            " (writing cgroup.procs hung?); it was killed"
        )
    return Spawned(_handle_for(popen, executable), status.splitlines())


async def _spawn_gated(
    start: Callable[[list[str], int], subprocess.Popen[bytes]],
    argv: list[str],
    executable: str,
    procs_files: list[str],
) -> Spawned:
    """Start the wrapper held at its gate, move it into its cgroups from here, then open the gate."""
    gate_r, gate_w = os.pipe()
    try:
        try:
            popen = start([SHELL, "-c", GATED_WRAPPER, WRAPPER_NAME, *argv], gate_r)
        except OSError as exc:
            raise StartFailure(f"cannot run {executable}: {exc.strerror or exc}") from None
        failures = []
        for procs in procs_files:
            try:
                with open(procs, "w") as handle:
                    handle.write(str(popen.pid))
            except OSError:
                failures.append(procs)
        os.write(gate_w, b"go\n")
    finally:
        close_quietly(gate_r)
        close_quietly(gate_w)
    return Spawned(_handle_for(popen, executable), failures)


def _handle_for(popen: subprocess.Popen[bytes], wrapped_exe: str | None) -> ProcessHandle:
    fd = os.pidfd_open(popen.pid)  # our unreaped child: cannot be gone yet
    found = read_stat(popen.pid)
    # Popen keeps its argv for repr() only; the wrapper's names every cgroup.procs (~0.7 KiB per
    # instance for its whole run). The Popen itself stays: it reaps the child when told to.
    popen.args = ()
    return ProcessHandle(popen.pid, found.start_ticks if found else 0, fd, popen, wrapped_exe)


def reattach(
    pid: int | None, start_ticks: int | None, cgroup: InstanceCgroup | None
) -> tuple[ProcessHandle | None, str]:
    """A handle on a recorded process if it is provably the same one; else ``None`` and why not.

    Same pid, same start time and (when a cgroup was recorded) inside that cgroup. A process that
    fails any check is left alone: it may be anybody's.
    """
    if pid is None or start_ticks is None:
        return None, "no process was recorded for it"
    handle = ProcessHandle.adopt(pid, start_ticks)
    if handle is None:
        found = read_stat(pid)
        if found is not None and not found.is_zombie and found.start_ticks != start_ticks:
            return None, f"pid {pid} now belongs to another process (other start time); left alone"
        return None, f"process {pid} is gone"
    if cgroup is not None and cgroup.dirs and not cgroup.contains(pid):
        handle.close()
        return None, f"pid {pid} is not in its recorded cgroup {cgroup.dirs[0].path}; left alone"
    return handle, ""


async def kill_leftovers(handle: ProcessHandle, cgroup: InstanceCgroup | None, timeout: float) -> list[int]:
    """SIGKILL whatever the ended process left behind (group, cgroup); the pids that survived.

    Call before :meth:`ProcessHandle.release`: the unreaped leader keeps its pgid from reuse.
    """
    handle.signal_group(signal.SIGKILL)
    if cgroup is not None and cgroup.dirs:
        return await cgroup.kill_all(timeout)
    leftovers = group_members(handle.pid)
    for pid in leftovers:
        kill_quietly(pid, signal.SIGKILL)
    return await wait_gone(leftovers, timeout)
