"""Fixtures for the runtime tests: real processes, real cgroups under a per-run prefix."""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from runtime_testkit import remove_cgroup_tree

from mooring.runtime.cgroups import CgroupHost
from mooring.runtime.proc import read_stat

RUN_PREFIX = f"mooring-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def cgroups() -> Iterator[CgroupHost]:
    """The host's cgroups, with a tree unique to this test, nested in the test runner's own cgroup.

    Nesting keeps test processes inside whatever cgroup the runner itself lives in; the tree is
    emptied (SIGKILL) and removed afterwards, even when the test failed.
    """
    host = CgroupHost.detect(f"{RUN_PREFIX}-{uuid.uuid4().hex[:6]}", nest_in_own_cgroup=True)
    try:
        yield host
    finally:
        leftovers = remove_cgroup_tree(host)
        assert not leftovers, f"cgroup cleanup failed: {leftovers}"


@pytest.fixture
def needs_cgroups(cgroups: CgroupHost) -> CgroupHost:
    """Skip unless this host can apply memory, cpu and pids limits (root, controllers mounted)."""
    missing = [name for name in ("cpu", "memory", "pids") if cgroups.home(name) is None]
    if os.geteuid() != 0 or missing:
        pytest.skip(f"needs root and cgroup controllers (missing: {missing or 'root'})")
    return cgroups


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    """Where the instances' logs and FIFOs go."""
    return tmp_path / "logs"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """The instances' working directory."""
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture
def reap_later() -> Iterator[list[tuple[int, int]]]:
    """(pid, start_ticks) of processes a test started outside any cgroup, killed afterwards if alive."""
    started: list[tuple[int, int]] = []
    yield started
    for pid, ticks in started:
        stat = read_stat(pid)
        if stat is not None and stat.start_ticks == ticks and not stat.is_zombie:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
