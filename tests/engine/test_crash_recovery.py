"""Kill the engine right after each transition of a 3-batch rolling update; every run converges.

The fault hook (MOORING_FAULT=after:<event>#<n>) makes the engine exit hard right after the n-th
event of that type is committed. A new engine must resume the release in place: same final state
as an uninterrupted run, no terminal target replayed, no orphan process.
"""

from __future__ import annotations

import os
import signal

import psutil
import pytest

from tests.engine.conftest import Mooring, wait_until
from tests.engine.releases_kit import events, manifest, release, served_versions, setup, states, up

FAULT_POINTS = [
    "release.created#1",
    "release.started#1",
    "batch.started#1",
    "target.starting#1",
    "instance.stopped#1",
    "target.ready#1",
    "batch.completed#1",
    "target.starting#2",
    "target.ready#2",
    "batch.started#3",
    "instance.stopped#3",
    "target.ready#3",
    "release.completed#1",
]


def app_processes(mooring: Mooring) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline", "cwd"]):
        try:
            if proc.info["cwd"] == str(mooring.cwd) and "versioned.py" in " ".join(
                proc.info["cmdline"] or []
            ):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def kill_engine(mooring: Mooring) -> None:
    pid = mooring.engine_pid()
    if pid:
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: mooring.engine_pid() is None, what="the engine to die")


@pytest.mark.parametrize("fault", FAULT_POINTS)
def test_crash_after_each_transition_converges(mooring: Mooring, fault: str) -> None:
    setup(mooring, manifest(replicas=3, parallelism=1))
    code, first = up(mooring)
    assert code == 0
    kill_engine(mooring)

    env = dict(mooring.env)
    mooring.env.update(V="2", MOORING_FAULT=f"after:{fault}")
    try:
        code = mooring.run("up", "--json").returncode
    finally:
        mooring.env.clear()
        mooring.env.update(env)
    assert code in (0, 9), code  # 9: the engine vanished under the CLI, as planned
    wait_until(lambda: mooring.engine_pid() is None, what="the faulty engine to exit")

    history = [r for r in mooring.ps("rel")]  # starts a clean engine, which adopts and recovers
    assert history
    latest = wait_until(
        lambda: (r := _latest(mooring)) and not r["rollout"]["active"] and r["status"] != "pending" and r,
        timeout=60,
        what="the recovered release to settle",
    )
    assert latest["id"] != first["id"]
    assert latest["status"] == "completed", latest
    assert latest["rollout"]["state"] == "stable"
    assert [s for s, _ in states(latest).values()] == ["ready"] * 3
    evts = events(mooring, latest["id"])
    ready = [e["target"] for e in evts if e["type"] == "target.ready"]
    assert sorted(ready) == ["web-1", "web-2", "web-3"], f"a terminal target was replayed: {ready}"
    assert served_versions(mooring) == {1: "2", 2: "2", 3: "2"}
    wait_until(
        lambda: len(app_processes(mooring)) == 3, timeout=20, what="exactly 3 app processes (no orphans)"
    )


def _latest(mooring: Mooring) -> dict | None:
    import json

    rows = json.loads(mooring.run("history", "--app", "rel", "--json", check=True).stdout)
    return release(mooring, rows[0]["id"]) if rows else None
