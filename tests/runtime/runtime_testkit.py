"""Helpers for the runtime tests: bounded event loops, specs, and cleaning up real processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from mooring.runtime import BackoffPolicy, InstanceRecord, InstanceSpec, Resources, Supervisor
from mooring.runtime.cgroups import CgroupHost
from mooring.runtime.proc import read_stat

T = TypeVar("T")
PYTHON = sys.executable
ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
FAST_BACKOFF = BackoffPolicy(base=0.05, cap=0.4, reset_after=5.0)


def run_bounded(coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    """Run ``coro`` in a fresh event loop, failing instead of hanging past ``timeout``."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


def run_isolated(coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    """Run ``coro`` in a fresh event loop on its own thread; fail after ``timeout`` even if it is stuck.

    Unlike :func:`run_bounded`, this also fails (rather than hangs) when the loop cannot be torn
    down because a task ignores cancellation, e.g. one waiting forever for a leaked lock: the
    outcome is handed over as soon as ``coro`` ends, and a stuck thread is abandoned (a daemon).
    """
    outcome: list[tuple[bool, Any]] = []
    settled = threading.Event()

    async def main() -> None:
        try:
            outcome.append((True, await coro))
        except BaseException as exc:  # re-raised in the test's thread
            outcome.append((False, exc))
        finally:
            settled.set()

    thread = threading.Thread(target=asyncio.run, args=(main(),), name="run_isolated", daemon=True)
    thread.start()
    if not settled.wait(timeout):
        raise AssertionError(f"the scenario did not finish within {timeout:g}s (its event loop is stuck)")
    thread.join(5.0)  # let the loop close, unless a task it cancels never ends
    ok, value = outcome[0]
    if not ok:
        raise value
    result: T = value
    return result


def make_spec(
    workdir: Path,
    command: list[str] | tuple[str, ...],
    *,
    instance_id: str = "web-1",
    app: str = "demo",
    **overrides: Any,
) -> InstanceSpec:
    """A spec for ``command`` with the test environment; any field can be overridden."""
    fields: dict[str, Any] = {
        "instance_id": instance_id,
        "app": app,
        "service": instance_id.rsplit("-", 1)[0],
        "replica": 1,
        "release_id": "rel-1",
        "spec_hash": "hash-1",
        "command": tuple(command),
        "env": dict(ENV),
        "working_dir": str(workdir),
        "restart": "no",
        "max_restarts": 3,
        "stop_timeout": 5.0,
        "resources": Resources(),
    }
    fields.update(overrides)
    return InstanceSpec(**fields)


def sh(script: str) -> list[str]:
    """A ``/bin/sh -c`` command line."""
    return ["/bin/sh", "-c", script]


class Recorder:
    """An ``on_change`` callback that keeps every record it is handed."""

    def __init__(self) -> None:
        self.records: list[InstanceRecord] = []

    def __call__(self, record: InstanceRecord) -> None:
        self.records.append(record)

    def states(self, instance_id: str) -> list[str]:
        """The sequence of states one instance went through."""
        return [r.state.value for r in self.records if r.instance_id == instance_id]


def new_supervisor(log_dir: Path, cgroups: CgroupHost, **kwargs: Any) -> Supervisor:
    """A supervisor with test-sized backoff and kill timeouts unless overridden."""
    kwargs.setdefault("backoff", FAST_BACKOFF)
    kwargs.setdefault("kill_timeout", 5.0)
    return Supervisor(log_dir, cgroups=cgroups, **kwargs)


def process_gone(pid: int, start_ticks: int | None = None) -> bool:
    """Whether the process has ended (a zombie awaiting its parent counts as ended)."""
    stat = read_stat(pid)
    return stat is None or stat.is_zombie or (start_ticks is not None and stat.start_ticks != start_ticks)


async def wait_until(condition: Callable[[], bool], timeout: float, what: str, step: float = 0.01) -> None:
    """Wait for a condition observable only from outside (a file, /proc), up to a deadline."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(step)


def log_lines(path: Path | str) -> list[str]:
    """The lines of a log file (empty when it does not exist yet)."""
    try:
        return Path(path).read_text().splitlines()
    except FileNotFoundError:
        return []


def remove_cgroup_tree(host: CgroupHost, timeout: float = 10.0) -> list[str]:
    """Kill every process under the host's prefix and remove the directories; the leftovers."""
    problems: list[str] = []
    for top in host.prefix_dirs():
        if not top.exists():
            continue
        dirs = sorted((Path(root) for root, _, _ in os.walk(top)), key=lambda p: len(p.parts), reverse=True)
        deadline = time.monotonic() + timeout
        for d in dirs:
            while (procs := _procs(d)) and time.monotonic() < deadline:
                for pid in procs:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                time.sleep(0.01)
            try:
                d.rmdir()
            except OSError as exc:
                problems.append(f"{d}: {exc}")
    return problems


def _procs(d: Path) -> list[int]:
    try:
        return [int(p) for p in (d / "cgroup.procs").read_text().split()]
    except OSError:
        return []
