"""A lease whose holder process on this host is gone is reclaimed at once (issue 17, item 5).

A killed engine can linger as a zombie (its parent never reaps it) and its pid can be reused: the
holder is identified by pid and process start time, not by the pid alone.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import psutil

from mooring.store import Store, open_store
from mooring.store.columns import utcnow
from tests.engine.conftest import Mooring, wait_until

STUBBORN = """
[app]
name = "stubborn"

[service.hold]
command = ["python3", "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"]
stop_timeout = "STOP"
"""


def _app(mooring: Mooring, stop: str) -> None:
    mooring.write("mooring.toml", STUBBORN.replace("STOP", stop))
    mooring.run("up", check=True)


@contextmanager
def _store(mooring: Mooring) -> Iterator[Store]:
    store = open_store(f"sqlite:///{mooring.home / 'state.db'}")
    try:
        yield store
    finally:
        store.close()


def _plant_lease(mooring: Mooring, pid: int, acquired: datetime, **extra: float) -> None:
    """A lease of app stubborn held by ``pid`` on this host since ``acquired``, unexpired for 5 minutes."""
    with _store(mooring) as store:
        ttl = utcnow() - acquired + timedelta(minutes=5)
        store.acquire_lease(
            "stubborn", "down-deadbeef", socket.gethostname(), pid, ttl, now=acquired, **extra
        )


def _lease_taken(mooring: Mooring) -> bool:
    with sqlite3.connect(mooring.home / "state.db", timeout=5) as db:
        return bool(db.execute("select count(*) from leases").fetchone()[0])


def test_down_after_the_engine_was_killed_mid_down_is_not_locked_out(mooring: Mooring) -> None:
    _app(mooring, "15s")
    engine = mooring.engine_pid()
    assert engine
    # the first down waits out the stop_timeout of a process that ignores SIGTERM: kill the engine then
    first = subprocess.Popen(
        [sys.executable, "-m", "mooring", "down", "--app", "stubborn"],
        env=mooring.env,
        cwd=mooring.cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: _lease_taken(mooring), what="the first down to take the lease")
        os.kill(engine, signal.SIGKILL)
        first.wait(30)
    finally:
        if first.poll() is None:
            first.kill()
    started = time.monotonic()
    result = mooring.run("down", "--app", "stubborn", timeout=90)
    assert result.returncode == 0, result.stdout + result.stderr
    # reclaimed at once, not after the 30 s lease expiry (this down too waits out the 15 s stop)
    assert time.monotonic() - started < 28


def test_lease_of_a_zombie_holder_is_reclaimed_at_once(mooring: Mooring) -> None:
    """A killed holder that nobody reaped still has its pid: a zombie holds nothing."""
    _app(mooring, "1s")
    zombie = subprocess.Popen(["true"])
    try:
        wait_until(lambda: psutil.Process(zombie.pid).status() == psutil.STATUS_ZOMBIE, what="a zombie")
        _plant_lease(mooring, zombie.pid, utcnow() - timedelta(seconds=5))
        result = mooring.run("down", "--app", "stubborn", timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
    finally:
        zombie.wait()


def test_lease_of_a_reused_pid_is_reclaimed_at_once(mooring: Mooring) -> None:
    """The holder's pid now belongs to a live process that started after the lease was taken."""
    _app(mooring, "1s")
    stranger = subprocess.Popen(["sleep", "120"])
    try:
        _plant_lease(mooring, stranger.pid, utcnow() - timedelta(hours=1))
        result = mooring.run("down", "--app", "stubborn", timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
    finally:
        stranger.kill()
        stranger.wait()


def test_lease_whose_holder_start_time_differs_is_reclaimed(mooring: Mooring) -> None:
    """The recorded start time of the holder is not the start time of the process behind its pid now."""
    _app(mooring, "1s")
    stranger = subprocess.Popen(["sleep", "120"])
    try:
        then = psutil.Process(stranger.pid).create_time() - 3600
        _plant_lease(mooring, stranger.pid, utcnow() - timedelta(seconds=1), pid_start_time=then)
        result = mooring.run("down", "--app", "stubborn", timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
    finally:
        stranger.kill()
        stranger.wait()


def test_a_live_holder_keeps_its_lease(mooring: Mooring) -> None:
    _app(mooring, "1s")
    holder = subprocess.Popen(["sleep", "120"])
    try:
        started = psutil.Process(holder.pid).create_time()
        _plant_lease(mooring, holder.pid, utcnow(), pid_start_time=started)
        result = mooring.run("down", "--app", "stubborn", timeout=60)
        assert result.returncode == 8, result.stdout + result.stderr
        assert "locked by" in result.stderr
    finally:
        holder.kill()
        holder.wait()
