"""Time that jumps (issue 17, item 4): an engine frozen by SIGSTOP for 30 s mid-rollout fails no healthy
instance, and a CLI call against a frozen engine returns, saying so, within its timeout."""

from __future__ import annotations

import time

from tests.engine.conftest import Mooring, wait_until
from tests.engine.releases_kit import events, manifest, served_versions, setup, states, up
from tests.engine.test_crash_recovery import app_processes
from tests.faults.kit import engine_frozen, latest_release_id, settled, start_up, wait_event


def test_a_30s_freeze_mid_rollout_fails_no_healthy_instance(mooring: Mooring) -> None:
    setup(mooring, manifest(replicas=4, parallelism=2, timeout="10s"))
    code, first = up(mooring)
    assert code == 0, first
    engine = mooring.engine_pid()
    assert engine
    rollout = start_up(mooring, V="2")
    try:
        wait_event(mooring.home, "target.starting", 4 + 1)  # the new release's first batch is starting
        with engine_frozen(engine):
            time.sleep(30)  # the fault itself: a VM pause of 30 s
        out, err = rollout.communicate(timeout=180)
    finally:
        if rollout.poll() is None:
            rollout.kill()
    assert rollout.returncode == 0, out + err
    release_id = latest_release_id(mooring.home)
    assert release_id and release_id != first["id"]
    rel = settled(mooring, release_id)
    timeline = events(mooring, release_id)
    assert rel["status"] == "completed", [(e["type"], e.get("reason"), e.get("detail")) for e in timeline]
    assert [s for s, _ in states(rel).values()] == ["ready"] * 4
    assert not [e for e in timeline if e["type"] == "target.failed"]
    stalls = [e for e in timeline if e["type"] == "engine.stalled"]
    assert stalls and stalls[0]["seconds"] >= 25, stalls
    assert served_versions(mooring) == {1: "2", 2: "2", 3: "2", 4: "2"}
    wait_until(lambda: len(app_processes(mooring)) == 4, timeout=20, what="exactly 4 app processes")


def test_ps_against_a_frozen_engine_says_it_is_not_answering(mooring: Mooring) -> None:
    mooring.write("mooring.toml", '[app]\nname = "frozen"\n[service.web]\ncommand = "sleep 600"\n')
    mooring.run("up", check=True)
    engine = mooring.engine_pid()
    assert engine
    mooring.env["MOORING_CLIENT_TIMEOUT"] = "3"
    with engine_frozen(engine):
        began = time.monotonic()
        result = mooring.run("ps", timeout=60)
        took = time.monotonic() - began
    assert result.returncode == 9, result.stdout + result.stderr
    assert "is not answering" in result.stderr
    assert took < 15, took
    assert mooring.engine_pid() == engine, "no second engine was started next to the frozen one"
    mooring.env.pop("MOORING_CLIENT_TIMEOUT")
    assert mooring.run("ps").returncode == 0  # answers again once it runs
