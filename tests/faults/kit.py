"""Faults for the fault tests: a real SQLite write lock held by another process, a frozen engine."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.engine.conftest import Mooring, wait_until
from tests.engine.releases_kit import release

LOCKER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("ROLLBACK")
"""


@contextmanager
def store_locked(home: Path, seconds: float) -> Iterator[subprocess.Popen[str]]:
    """Another process holds the state database's write lock (``BEGIN EXCLUSIVE``) for ``seconds``."""
    proc = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(home / "state.db"), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "locked"
        yield proc
    finally:
        if proc.poll() is None:
            proc.wait(seconds + 30)


@contextmanager
def engine_frozen(pid: int) -> Iterator[None]:
    """SIGSTOP the engine (a VM pause, heavy swapping), SIGCONT it at the end."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def event_count(home: Path, type: str, release_id: str | None = None) -> int:
    """Events of ``type`` (of one release) as committed; reads never wait on SQLite's write lock (WAL)."""
    with sqlite3.connect(home / "state.db", timeout=5) as db:
        if release_id is None:
            return int(db.execute("select count(*) from events where type = ?", (type,)).fetchone()[0])
        return int(
            db.execute(
                "select count(*) from events where type = ? and release_id = ?", (type, release_id)
            ).fetchone()[0]
        )


def latest_release_id(home: Path) -> str | None:
    with sqlite3.connect(home / "state.db", timeout=5) as db:
        row = db.execute("select id from releases order by created_at desc limit 1").fetchone()
    return str(row[0]) if row else None


def start_up(mooring: Mooring, **env: str) -> subprocess.Popen[str]:
    """`mooring up --json` in the background (the rollout runs while the test injects a fault)."""
    return subprocess.Popen(
        [sys.executable, "-m", "mooring", "up", "--json"],
        env={**mooring.env, **env},
        cwd=mooring.cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def settled(mooring: Mooring, release_id: str, timeout: float = 120) -> dict[str, Any]:
    """The release once no executor drives it any more and it is not parked for an outage."""

    def done() -> dict[str, Any] | None:
        rel = release(mooring, release_id)
        if rel["rollout"]["active"] or rel["status"] in ("pending", "in_progress"):
            return None
        return rel

    result: dict[str, Any] = wait_until(done, timeout=timeout, what=f"release {release_id} to settle")
    return result


def history(mooring: Mooring, app: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(mooring.run("history", "--app", app, "--json", check=True).stdout)
    return rows


def wait_event(home: Path, type: str, count: int, timeout: float = 60) -> None:
    wait_until(lambda: event_count(home, type) >= count, timeout=timeout, what=f"{count} {type} events")


def elapsed(since: float) -> float:
    return time.monotonic() - since
