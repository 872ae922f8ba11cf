"""Real programs from Debian (and PyPI) run as process services by a real engine per test.

Each scenario is what an operator does: ``up``, a config change rolled out, the engine killed with
``kill -9`` and started again (every instance must be adopted: same ids, same pids, healthy), and
the service's data still there.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.engine.conftest import Mooring, wait_until


def need(program: str, package: str) -> str:
    """The program's path; fails loudly naming the Debian package when it is missing."""
    found = shutil.which(program) or (
        program if os.path.isabs(program) and os.access(program, os.X_OK) else None
    )
    if found is None:
        raise RuntimeError(f"{program} not found: install the Debian package {package} (.ci/run does)")
    return found


@pytest.fixture
def wmooring() -> Iterator[Mooring]:
    """A real engine per test, its home and work directory reachable (not listable) by the services'
    users. Not under pytest's tmp dir: pytest keeps /tmp/pytest-of-root at 0700 (any concurrent
    session resets it), and a service running as ``postgres`` must reach its files."""
    root = Path(tempfile.mkdtemp(prefix="mooring-wl-"))
    os.chmod(root, 0o711)
    work = root / "work"
    work.mkdir(mode=0o711)
    env = {**os.environ, "MOORING_HOME": str(root / "home"), "PYTHONUNBUFFERED": "1"}
    env.pop("MOORING_DATABASE_URL", None)
    m = Mooring(home=root / "home", env=env, cwd=work)
    try:
        yield m
    finally:
        with contextlib.suppress(Exception):
            for app in {r["app"] for r in m.ps()}:
                m.run("down", "--app", app, timeout=60)
        pid = m.engine_pid()
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        m.kill_leftovers()
        shutil.rmtree(root, ignore_errors=True)


def running(mooring: Mooring, app: str) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in mooring.ps(app) if r["state"] == "running"}


def all_healthy(mooring: Mooring, app: str) -> dict[str, dict[str, Any]]:
    rows = mooring.ps(app)
    if rows and all(r["state"] == "running" and r["health"] in ("healthy", None) for r in rows):
        return {r["id"]: r for r in rows}
    return {}


def kill_engine_and_adopt(mooring: Mooring, app: str) -> dict[str, dict[str, Any]]:
    """kill -9 the engine; the next command starts a new one, which must adopt every instance."""
    before = running(mooring, app)
    assert before, f"nothing of {app} runs before the engine is killed"
    os.kill(mooring.engine_pid() or 0, signal.SIGKILL)
    wait_until(lambda: mooring.engine_pid() is None, what="the killed engine to be gone")
    for row in before.values():
        os.kill(row["pid"], 0)  # still alive without its engine (raises if not)
    after = wait_until(lambda: all_healthy(mooring, app), timeout=30, what=f"{app} adopted and healthy")
    assert {i: r["pid"] for i, r in after.items()} == {i: r["pid"] for i, r in before.items()}, (
        f"not every instance was adopted as it ran:\nbefore {before}\nafter {after}"
    )
    return after


def owner_of(pid: int) -> tuple[int, int]:
    """(uid, gid) of a process."""
    info = Path(f"/proc/{pid}").stat()
    return info.st_uid, info.st_gid


def up(mooring: Mooring, *args: str, code: int = 0) -> str:
    result = mooring.run("up", *args, timeout=180)
    assert result.returncode == code, (
        f"up exited {result.returncode}, wanted {code}:\n{result.stdout}\n{result.stderr}"
    )
    return result.stdout


def alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper that is not mooring's child any more is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
