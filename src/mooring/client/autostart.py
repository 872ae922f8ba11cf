"""Find the local engine, starting it in the background when none runs (one at a time, under a lock)."""

from __future__ import annotations

import fcntl
import os
import sys
import time
from pathlib import Path

from mooring.client.local import LocalClient
from mooring.errors import EngineNotAnswering, EngineUnreachable, MooringError

START_DEADLINE = 20.0


def socket_path(home: Path) -> Path:
    return home / "engine.sock"


def log_path(home: Path) -> Path:
    return home / "engine.log"


def _answers(client: LocalClient) -> bool:
    """Whether an engine answers; one that accepts but never answers (frozen) is an error, not absent:
    starting a second engine next to it would only fail."""
    try:
        client.get("/v1/engine")
        return True
    except EngineNotAnswering:
        raise
    except EngineUnreachable:
        return False


def local_client(home: Path, autostart: bool = True, notice=None) -> LocalClient:  # type: ignore[no-untyped-def]
    """A client of the engine under ``home``; start one if needed and allowed."""
    client = LocalClient(socket_path(home))
    if _answers(client):
        return client
    if not autostart:
        raise EngineUnreachable(
            f"no mooring engine answers at {socket_path(home)}", hint="start it: mooring serve"
        )
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(home / "engine.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two CLIs never start two engines
        if _answers(client):
            return client
        import subprocess  # only to start an engine: most commands find one running

        fd = os.open(log_path(home), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "mooring", "serve"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                env={**os.environ, "MOORING_HOME": str(home)},
            )
        deadline = time.monotonic() + START_DEADLINE
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise MooringError(
                    f"the mooring engine exited at start (code {proc.returncode})",
                    hint=f"see its log: {log_path(home)}",
                )
            if _answers(client):
                if notice:
                    notice(f"started the mooring engine (pid {proc.pid}); log: {log_path(home)}")
                return client
            time.sleep(0.05)
        raise EngineUnreachable(
            f"the mooring engine did not answer within {START_DEADLINE:.0f}s",
            hint=f"see its log: {log_path(home)}",
        )
