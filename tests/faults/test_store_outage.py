"""Store faults are transient, not fatal (issue 17, item 1).

A real SQLite write lock held by another process (`BEGIN EXCLUSIVE`, as an `sqlite3` shell or a backup
would) in the middle of a rolling update: the release completes, every replica runs the new version
exactly once, no process is left over. Past the write budget the release is parked, never failed, and
resumes by itself once the store answers.
"""

from __future__ import annotations

from tests.engine.conftest import Mooring, wait_until
from tests.engine.releases_kit import events, manifest, served_versions, setup, states, up
from tests.engine.test_crash_recovery import app_processes
from tests.faults.kit import latest_release_id, settled, start_up, store_locked, wait_event


def test_a_12s_store_lock_mid_rollout_does_not_stop_or_split_the_release(mooring: Mooring) -> None:
    setup(mooring, manifest(replicas=4, parallelism=1, timeout="10s"))
    code, first = up(mooring)
    assert code == 0, first
    rollout = start_up(mooring, V="2")
    try:
        wait_event(mooring.home, "target.ready", 4 + 1)  # the new release's first target is ready
        with store_locked(mooring.home, 12):
            pass  # the lock is held for 12 s while the rollout goes on
        out, err = rollout.communicate(timeout=180)
    finally:
        if rollout.poll() is None:
            rollout.kill()
    assert rollout.returncode == 0, out + err
    release_id = latest_release_id(mooring.home)
    assert release_id and release_id != first["id"]
    rel = settled(mooring, release_id)
    assert rel["status"] == "completed", rel
    assert [s for s, _ in states(rel).values()] == ["ready"] * 4
    assert served_versions(mooring) == {1: "2", 2: "2", 3: "2", 4: "2"}
    wait_until(lambda: len(app_processes(mooring)) == 4, timeout=20, what="exactly 4 app processes")


def test_past_the_write_budget_the_release_is_parked_then_resumes_by_itself(mooring: Mooring) -> None:
    mooring.env["MOORING_STORE_WRITE_BUDGET"] = "2"
    setup(mooring, manifest(replicas=3, parallelism=1, timeout="10s", delay="6s"))
    code, first = up(mooring)
    assert code == 0, first
    rollout = start_up(mooring, V="2")
    try:
        # between two batches: the executor's next write (batch.started) meets the lock and gives up
        wait_event(mooring.home, "batch.completed", 3 + 1)
        with store_locked(mooring.home, 20):
            pass
        rollout.communicate(timeout=180)
    finally:
        if rollout.poll() is None:
            rollout.kill()
    release_id = latest_release_id(mooring.home)
    assert release_id
    rel = settled(mooring, release_id, timeout=120)
    assert rel["status"] == "completed", rel
    timeline = events(mooring, release_id)
    types = [e["type"] for e in timeline]
    parked = [e for e in timeline if e["type"] == "release.paused"]
    assert parked and parked[0]["reason"] == "store_unavailable", types
    assert "release.resume_requested" in types
    assert [s for s, _ in states(rel).values()] == ["ready"] * 3
    assert served_versions(mooring) == {1: "2", 2: "2", 3: "2"}
    wait_until(lambda: len(app_processes(mooring)) == 3, timeout=20, what="exactly 3 app processes")
