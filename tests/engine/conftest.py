"""A real engine per test: its own MOORING_HOME, started by the CLI as a user would."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.kit import free_port as free_port  # re-exported: the engine tests import them from here
from tests.kit import wait_until as wait_until


@dataclass
class Mooring:
    home: Path
    env: dict[str, str]
    cwd: Path
    # pid -> its start time: a teardown kills a group only while its leader is still that process (pids
    # wrap at 32768 here; a stale pid once killed another worker's Swarm manager, a new session's leader)
    seen_pids: dict[int, float] = field(default_factory=dict)

    def run(self, *args: str, check: bool = False, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "mooring", *args],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.cwd,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"mooring {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
            )
        return result

    def ps(self, app: str | None = None) -> list[dict[str, Any]]:
        args = ["ps", "--json"] + (["--app", app] if app else [])
        rows = json.loads(self.run(*args, check=True).stdout)
        for row in rows:
            if row["pid"] and row["pid"] not in self.seen_pids:
                with contextlib.suppress(psutil.Error):
                    self.seen_pids[row["pid"]] = psutil.Process(row["pid"]).create_time()
        return rows

    def kill_leftovers(self) -> None:
        """SIGKILL the process groups of the instances ``ps`` showed, unless their pid now names another process.

        A group whose leader is gone may still have members; its id cannot have been reused while they live.
        """
        for pid, started in self.seen_pids.items():
            with contextlib.suppress(psutil.NoSuchProcess):
                if psutil.Process(pid).create_time() != started:
                    continue  # the pid was recycled: not ours
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)

    def engine_pid(self) -> int | None:
        pidfile_free = [p for p in psutil.process_iter(["cmdline", "environ"]) if _is_engine(p, self.home)]
        return pidfile_free[0].pid if pidfile_free else None

    def write(self, name: str, text: str) -> Path:
        path = self.cwd / name
        path.write_text(text)
        return path


def _is_engine(proc: psutil.Process, home: Path) -> bool:
    try:
        cmd = proc.info["cmdline"] or []
        env = proc.info["environ"] or {}
    except (psutil.Error, KeyError):
        return False
    return "serve" in cmd and "mooring" in " ".join(cmd) and env.get("MOORING_HOME") == str(home)


@pytest.fixture
def mooring(tmp_path: Path) -> Iterator[Mooring]:
    home = tmp_path / "home"
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "MOORING_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    env.pop("MOORING_DATABASE_URL", None)
    m = Mooring(home=home, env=env, cwd=work)
    yield m
    # Tear down: stop every app through the engine, then the engine, then anything left over.
    with contextlib.suppress(Exception):
        rows = m.ps()
        for app in {r["app"] for r in rows}:
            m.run("down", "--app", app, timeout=60)
    pid = m.engine_pid()
    if pid:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    m.kill_leftovers()
    stop_haproxy(home)


def haproxy_pid(home: Path) -> int | None:
    """The pid of the HAProxy the engine of ``home`` runs (it outlives the engine), if one runs."""
    try:
        pid = int((home / "haproxy" / "haproxy.pid").read_text().split()[0])
        if psutil.Process(pid).name() != "haproxy":
            return None  # a stale pid file whose pid now names another process
    except (OSError, ValueError, IndexError, psutil.Error):
        return None
    return pid


def stop_haproxy(home: Path) -> None:
    """HAProxy is left running when the engine stops, by design: a test ends it itself."""
    pid = haproxy_pid(home)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
