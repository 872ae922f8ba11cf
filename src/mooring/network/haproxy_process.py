"""The one HAProxy of the host: started in master-worker mode, adopted, reloaded, watched, stopped.

Its files live under ``$MOORING_HOME/haproxy``: the config, the pid file (the master's pid), the
master CLI socket, the worker's stats socket and its log. It runs in its own session, so it outlives
the engine that started it; the next engine adopts it through the pid file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from mooring.network.held_sockets import HeldSockets
from mooring.network.mappings import PortMapping
from mooring.network.runtime_api import RuntimeApi, RuntimeApiError

log = logging.getLogger("mooring.network")
INSTALL_HINT = "install HAProxy (Debian/Ubuntu: apt-get install haproxy) or set MOORING_HAPROXY to its path"
START_TIMEOUT = 10.0
INHERITED_BIND = re.compile(r"bind fd@\d+")


class EdgeError(Exception):
    """HAProxy is missing, refused its config or did not come up; the message says what to do."""


def haproxy_binary() -> str | None:
    configured = os.environ.get("MOORING_HAPROXY")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    return shutil.which("haproxy") or next(
        (p for p in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if os.access(p, os.X_OK)), None
    )


def haproxy_version(binary: str) -> str | None:
    try:
        first = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=10).stdout
    except OSError:
        return None
    words = first.split()
    return words[2] if len(words) > 2 and words[0] == "HAProxy" else None


def edge_report() -> dict[str, str | None]:
    """For ``mooring doctor``: where HAProxy is, its version, and how to install it when missing."""
    binary = haproxy_binary()
    version = haproxy_version(binary) if binary else None
    return {"path": binary, "version": version, "hint": None if version else INSTALL_HINT}


class HAProxyProcess:
    def __init__(self, home: Path) -> None:
        self.dir = home / "haproxy"
        self.config_path = self.dir / "haproxy.cfg"
        self.pid_path = self.dir / "haproxy.pid"
        self.log_path = self.dir / "haproxy.log"
        self.api = RuntimeApi(self.dir / "stats.sock", self.dir / "master.sock")
        self.pid: int | None = None
        self.on_death: Callable[[], None] | None = None
        self._child: subprocess.Popen[bytes] | None = None
        self._pidfd: int | None = None
        self._stopping = False
        self._dead_group: int | None = None
        self.held = HeldSockets()
        # the listeners this master was started with as ``bind fd@N`` (it keeps them until it exits)
        self.inherited: dict[PortMapping, int] = {}

    # --- finding, starting, adopting ------------------------------------------------------------

    def recorded_pid(self) -> int | None:
        """The master's pid from the pid file, if that process is alive and is our HAProxy."""
        try:
            pid = int(self.pid_path.read_text().split()[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            return None
        return pid if str(self.config_path).encode() in cmdline else None

    async def adopt(self) -> bool:
        """Take over a running HAProxy of a previous engine; False when none runs."""
        pid = self.recorded_pid()
        if pid is None:
            return False
        try:
            await self.api.command("show info")
        except RuntimeApiError as exc:
            log.warning("HAProxy (pid %s) runs but does not answer: %s; leaving it to be restarted", pid, exc)
            return False
        self.pid = pid
        self._watch()
        log.warning("adopted HAProxy (pid %s)", pid)
        return True

    async def start(self, config_text: str, inherited: dict[PortMapping, int] | None = None) -> None:
        """Start HAProxy; ``inherited`` are held listening sockets its config binds as ``fd@N``."""
        binary = haproxy_binary()
        if binary is None:
            raise EdgeError(f"HAProxy is not installed; published ports need it: {INSTALL_HINT}")
        self.dir.mkdir(parents=True, exist_ok=True)
        await self._write_checked(binary, config_text)
        await self._group_gone()
        for stale in (self.api.stats_socket, self.api.master_socket):
            stale.unlink(missing_ok=True)
        with open(self.log_path, "ab") as out:
            self._child = subprocess.Popen(
                [
                    binary,
                    "-W",
                    "-S",
                    f"{self.api.master_socket},mode,600",
                    "-f",
                    str(self.config_path),
                    "-p",
                    str(self.pid_path),
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=True,  # not in the engine's process group: it outlives the engine
                close_fds=True,
                pass_fds=sorted((inherited or {}).values()),
            )
        self.pid = self._child.pid
        self.inherited = dict(inherited or {})
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self._child.poll() is not None:
                raise EdgeError(f"HAProxy exited at start ({self._child.returncode}): {self.log_tail()}")
            with contextlib.suppress(RuntimeApiError):
                await self.api.command("show info")
                break
            if time.monotonic() > deadline:
                raise EdgeError(f"HAProxy did not answer within {START_TIMEOUT:g}s: {self.log_tail()}")
            await asyncio.sleep(0.02)
        self._watch()
        log.info("started HAProxy (pid %s)", self.pid)

    async def _group_gone(self, timeout: float = 3.0) -> None:
        """Wait until the workers of a HAProxy that died are gone (their listeners with them)."""
        group, self._dead_group = self._dead_group, None
        deadline = time.monotonic() + timeout
        while group is not None and time.monotonic() < deadline:
            try:
                os.killpg(group, 0)
            except (ProcessLookupError, PermissionError):
                return
            await asyncio.sleep(0.01)

    async def _write_checked(self, binary: str, config_text: str) -> None:
        """Write the config through a checked temporary file: a config HAProxy refuses is never live."""
        candidate = self.config_path.with_suffix(".new")
        # the check does not inherit HAProxy's sockets; `-c` binds nothing, so any address stands in
        candidate.write_text(INHERITED_BIND.sub("bind 127.0.0.1:1", config_text))
        proc = await asyncio.create_subprocess_exec(
            binary, "-c", "-q", "-f", str(candidate), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        output, _ = await proc.communicate()
        if proc.returncode != 0:
            raise EdgeError(f"HAProxy refused the generated config {candidate}: {output.decode().strip()}")
        candidate.write_text(config_text)
        os.replace(candidate, self.config_path)

    def write(self, config_text: str) -> None:
        """The servers changed at runtime: the next reload or restart starts with them."""
        candidate = self.config_path.with_suffix(".tmp")
        candidate.write_text(config_text)
        os.replace(candidate, self.config_path)

    async def reload(self, config_text: str) -> None:
        """Hitless reload: a new worker takes the listening sockets over; the old one finishes its sessions."""
        binary = haproxy_binary()
        if binary is None:
            raise EdgeError(f"HAProxy is not installed: {INSTALL_HINT}")
        await self._write_checked(binary, config_text)
        before = await self.api.show_proc()
        reloads = next((r[2] for r in before if r[1] == "master"), 0)
        failed = next((r[3] for r in before if r[1] == "master"), 0)
        await self.api.master("reload")
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            await asyncio.sleep(0.02)
            with contextlib.suppress(RuntimeApiError):
                procs = await self.api.show_proc()
                master = next((r for r in procs if r[1] == "master"), None)
                if master is not None and master[3] > failed:
                    raise EdgeError(f"HAProxy could not load the new config: {self.log_tail()}")
                if master is not None and master[2] > reloads:
                    await self.api.command("show info")  # the new worker answers
                    return
            if time.monotonic() > deadline:
                raise EdgeError(
                    f"HAProxy did not finish a reload within {START_TIMEOUT:g}s: {self.log_tail()}"
                )

    async def hold(self, live: set[PortMapping]) -> None:
        """Hold a copy of each live listening socket (taken from the current worker); let go of the rest."""
        self.held.keep_only(live)
        self.inherited = {m: n for m, n in self.inherited.items() if m in live}
        if not live - set(self.held.sockets):
            return
        # the stats socket is the current worker's: it has every current listener
        info = dict(
            line.split(": ", 1) for line in (await self.api.command("show info")).splitlines() if ": " in line
        )
        if info.get("Pid", "").isdigit():
            self.held.take(int(info["Pid"]), live)

    def log_tail(self, lines: int = 5) -> str:
        try:
            return " | ".join(self.log_path.read_text(errors="replace").strip().splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # --- watching and stopping ----------------------------------------------------------------

    def _watch(self) -> None:
        """Learn of the master's exit from the event loop (a pidfd), whoever its parent is."""
        self._unwatch()
        assert self.pid is not None
        try:
            self._pidfd = os.pidfd_open(self.pid)
        except ProcessLookupError:
            self._pidfd = None
            asyncio.get_running_loop().call_soon(self._exited)
            return
        asyncio.get_running_loop().add_reader(self._pidfd, self._exited)

    def _unwatch(self) -> None:
        if self._pidfd is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None

    def _exited(self) -> None:
        self._unwatch()
        if self._child is not None:
            self._child.poll()  # reap it when the engine is its parent
        pid, self.pid = self.pid, None
        self.inherited = {}  # the held sockets stay open: connections wait in them for the next HAProxy
        if pid is not None and not self._stopping:
            # its workers may outlive the master a moment, holding the listeners a restart needs
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            self._dead_group = pid
        if not self._stopping:
            log.error("HAProxy (pid %s) exited: %s", pid, self.log_tail(3))
            if self.on_death is not None:
                self.on_death()

    def detach(self) -> None:
        """The engine stops: HAProxy goes on serving; the next engine adopts it."""
        self._unwatch()
        self.held.close()

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop HAProxy (soft stop: listeners close, sessions get ``timeout``)."""
        pid = self.pid or self.recorded_pid()
        self._stopping = True
        self._unwatch()
        try:
            if pid is None:
                return
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGUSR1)
            deadline = time.monotonic() + timeout
            while _alive(pid, self._child) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if _alive(pid, self._child):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
                while _alive(pid, self._child) and time.monotonic() < deadline + 2.0:
                    await asyncio.sleep(0.01)  # and reaped, when the engine is its parent
            self.pid = None
            self.inherited = {}
            self.pid_path.unlink(missing_ok=True)
        finally:
            self.held.keep_only(())
            self._stopping = False


def _alive(pid: int, child: subprocess.Popen[bytes] | None) -> bool:
    if child is not None and child.pid == pid:
        return child.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return not Path(f"/proc/{pid}/stat").read_text().split(") ")[-1].startswith("Z")
    except OSError:
        return False
