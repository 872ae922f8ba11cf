"""Release scenarios on real processes: final status, rollout state, targets, counters, events, versions."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

from tests.engine.conftest import Mooring, wait_until
from tests.engine.releases_kit import events, manifest, release, served_versions, setup, states, up


def types(evts: list[dict]) -> list[str]:
    return [e["type"] for e in evts]


def test_fresh_apply(mooring: Mooring) -> None:
    setup(mooring, manifest(replicas=2))
    code, rel = up(mooring)
    assert code == 0
    assert rel["status"] == "completed" and rel["rollout"]["state"] == "stable" and rel["scope"] == "fresh"
    assert states(rel) == {"web-1": ("ready", None), "web-2": ("ready", None)}
    assert rel["rollout"]["targets"] == {
        "total": 2,
        "ready": 2,
        "failed": 0,
        "unchanged": 0,
        "removed": 0,
        "left": 0,
    }
    seq = types(events(mooring, rel["id"]))
    assert seq[:3] == ["release.created", "release.started", "batch.started"]
    assert seq.count("target.ready") == 2 and seq[-1] == "release.completed"
    assert [e["seq"] for e in events(mooring, rel["id"])] == list(range(1, len(seq) + 1))
    assert served_versions(mooring) == {1: "1", 2: "1"}


def test_noop_reapply_records_no_release_and_restarts_nothing(mooring: Mooring) -> None:
    setup(mooring, manifest(replicas=2))
    _, first = up(mooring)
    pids = sorted(r["pid"] for r in mooring.ps("rel"))
    code, answer = up(mooring)
    assert code == 0
    assert answer == {
        "nothing_to_do": True,
        "message": f"nothing to do: release {first['id']} is current",
        "release": {k: v for k, v in release(mooring, first["id"]).items() if k != "targets"},
    }
    text = mooring.run("up")
    assert text.returncode == 0 and text.stdout == f"nothing to do: release {first['id']} is current\n"
    history = json.loads(mooring.run("history", "--app", "rel", "--json", check=True).stdout)
    assert [r["id"] for r in history] == [first["id"]]
    assert sorted(r["pid"] for r in mooring.ps("rel")) == pids
    # a real change after it still records a release
    code, second = up(mooring, V="2")
    assert code == 0 and second["number"] == 2


def test_change_with_4_replicas_parallelism_2(mooring: Mooring) -> None:
    setup(mooring, manifest(replicas=4, parallelism=2))
    up(mooring)
    code, rel = up(mooring, V="2")
    assert code == 0 and rel["status"] == "completed" and rel["scope"] == "replacement"
    assert {t["target"]: t["batch"] for t in rel["targets"]} == {
        "web-1": 1,
        "web-2": 1,
        "web-3": 2,
        "web-4": 2,
    }
    assert all(t["action"] == "replace" and t["state"] == "ready" for t in rel["targets"])
    evts = events(mooring, rel["id"])
    batch_order = [e["batch"] for e in evts if e["type"] == "batch.started"]
    assert batch_order == [1, 2]
    assert sum(1 for e in evts if e["type"] == "instance.stopped") == 4
    assert served_versions(mooring) == {1: "2", 2: "2", 3: "2", 4: "2"}


def test_canary_first_batch_failure_pauses(mooring: Mooring) -> None:
    setup(mooring, manifest(replicas=3, parallelism=2, strategy="canary", timeout="3s"))
    up(mooring)
    code, rel = up(mooring, V="2", BEHAVIOR="unhealthy")
    assert code == 7  # paused
    assert (
        rel["status"] == "failed"
        and rel["rollout"]["control"] == "paused"
        and rel["rollout"]["state"] == "blocked"
    )
    assert states(rel) == {
        "web-1": ("failed", "readiness_failed"),
        "web-2": ("pending", None),
        "web-3": ("pending", None),
    }
    assert served_versions(mooring) == {1: "1", 2: "1", 3: "1"}
    assert "release.paused" in types(events(mooring, rel["id"]))


def test_canary_first_batch_failure_rolls_back(mooring: Mooring) -> None:
    setup(
        mooring,
        manifest(replicas=3, parallelism=2, strategy="canary", failure_action="rollback", timeout="3s"),
    )
    up(mooring)
    code, rel = up(mooring, V="2", BEHAVIOR="crash")
    assert code == 5
    assert rel["status"] == "rolled_back" and rel["rollout"]["state"] == "rolled_back"
    assert states(rel)["web-1"][0] == "rolled_back"
    assert served_versions(mooring) == {1: "1", 2: "1", 3: "1"}


def test_later_batch_failure_partially_fails_then_resume_completes(mooring: Mooring) -> None:
    flag = mooring.cwd / "broken"
    flag.touch()
    setup(mooring, manifest(replicas=4, parallelism=2, timeout="3s"))
    up(mooring)
    code, rel = up(mooring, V="2", BEHAVIOR="unhealthy", FAIL_REPLICAS="3,4", FAIL_FLAG=str(flag))
    assert code == 7
    assert rel["status"] == "partially_failed" and rel["rollout"]["state"] == "blocked"
    assert [s for s, _ in states(rel).values()] == ["ready", "ready", "failed", "failed"]
    assert served_versions(mooring) == {1: "2", 2: "2", 3: "1", 4: "1"}  # mixed versions
    flag.unlink()
    resumed = mooring.run("rollout", "resume", "--app", "rel", "--json")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    final = release(mooring, rel["id"])
    assert final["status"] == "completed" and final["resumed_count"] == 1
    assert [s for s, _ in states(final).values()] == ["ready"] * 4
    evts = events(mooring, rel["id"])
    ready_by_target = [e["target"] for e in evts if e["type"] == "target.ready"]
    assert sorted(ready_by_target) == ["web-1", "web-2", "web-3", "web-4"], "ready targets were not replayed"
    assert served_versions(mooring) == {1: "2", 2: "2", 3: "2", 4: "2"}


def test_rollback_restores_the_old_version(mooring: Mooring) -> None:
    setup(mooring, manifest(replicas=2))
    _, first = up(mooring)
    assert up(mooring, V="2")[0] == 0
    assert served_versions(mooring) == {1: "2", 2: "2"}
    result = mooring.run("rollback", "--app", "rel", "--json")
    assert result.returncode == 0, result.stderr
    rb = json.loads(result.stdout)
    assert (
        rb["trigger"] == "rollback" and rb["source_release_id"] == first["id"] and rb["status"] == "completed"
    )
    assert rb["message"] == f"rollback to {first['id']} completed"
    assert served_versions(mooring) == {1: "1", 2: "1"}


def test_readiness_timeout_failed_and_exited_are_told_apart(mooring: Mooring) -> None:
    setup(mooring, manifest(replicas=1, timeout="2s"))
    up(mooring)
    cases = (
        ("silent", "30s", "readiness_timeout"),  # failures inside start_period do not count: never judged
        ("unhealthy", "0s", "readiness_failed"),
        ("crash", "0s", "process_exited"),
    )
    for behavior, start_period, reason in cases:
        setup(mooring, manifest(replicas=1, timeout="2s", start_period=start_period))
        code, rel = up(mooring, V="2", BEHAVIOR=behavior)
        assert code == 7, (behavior, rel)
        assert states(rel)["web-1"] == ("failed", reason), behavior
        assert served_versions(mooring) == {1: "1"}


def test_removed_service_stops_only_after_new_set_is_ready(mooring: Mooring) -> None:
    extra = """
[service.old]
command = "sleep 1000"
[service.old.rollout]
health_check_timeout = "0s"
"""
    setup(mooring, manifest(replicas=2, extra_service=extra))
    up(mooring)
    setup(mooring, manifest(replicas=2))
    code, rel = up(mooring, V="2")
    assert code == 0 and states(rel)["old-1"] == ("removed", None)
    seq = types(events(mooring, rel["id"]))
    assert seq.index("target.removed") > max(i for i, t in enumerate(seq) if t == "target.ready")
    assert {r["service"] for r in mooring.ps("rel")} == {"web"}


def test_cancel_mid_batch(mooring: Mooring) -> None:
    setup(mooring, manifest(replicas=2, parallelism=1, timeout="60s", start_period="60s"))
    up(mooring)
    result: dict = {}

    def apply() -> None:
        result["code"], result["rel"] = up(mooring, V="2", BEHAVIOR="silent")

    worker = threading.Thread(target=apply)
    worker.start()
    wait_until(
        lambda: any(r["state"] == "running" and r["health"] == "starting" for r in mooring.ps("rel")),
        what="the new instance waiting for readiness",
    )
    started = time.monotonic()
    cancel = mooring.run("rollout", "cancel", "--app", "rel", "--json")
    assert cancel.returncode == 0, cancel.stderr
    worker.join(60)
    assert time.monotonic() - started < 30, "cancel interrupts the readiness wait"
    rel = result["rel"]
    assert result["code"] == 6 and rel["status"] == "cancelled" and rel["rollout"]["state"] == "cancelled"
    assert states(rel) == {
        "web-1": ("pending", "cancelled_by_operator"),
        "web-2": ("pending", "cancelled_by_operator"),
    }
    assert served_versions(mooring) == {1: "1", 2: "1"}


def test_new_apply_supersedes_a_paused_release(mooring: Mooring) -> None:
    setup(mooring, manifest(replicas=2, timeout="2s"))
    up(mooring)
    code, paused = up(mooring, V="2", BEHAVIOR="crash")
    assert code == 7
    code, newer = up(mooring, V="3")
    assert code == 0
    old = release(mooring, paused["id"])
    assert old["status"] == "superseded" and old["superseded_by"] == newer["id"]
    assert old["rollout"]["state"] == "superseded"
    assert served_versions(mooring) == {1: "3", 2: "3"}


def test_concurrent_applies_exactly_one_runs(mooring: Mooring) -> None:
    setup(mooring, manifest(replicas=1, min_ready="3s"))
    mooring.run("ps")  # one engine for both
    env = {**mooring.env, "V": "2"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "mooring", "up", "--json"],
            cwd=mooring.cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 8], outputs
    loser = next(err for (out, err), p in zip(outputs, procs, strict=True) if p.returncode == 8)
    assert "lease" in loser.lower() or "held by" in loser.lower(), loser
    assert "--wait-lock" in loser
    history = json.loads(mooring.run("history", "--app", "rel", "--json", check=True).stdout)
    assert len(history) == 1


def test_wait_lock_queues_the_second_apply(mooring: Mooring) -> None:
    setup(mooring, manifest(replicas=1, min_ready="2s"))
    mooring.run("ps")
    env = {**mooring.env, "V": "2"}
    first = subprocess.Popen(
        [sys.executable, "-m", "mooring", "up", "--json"],
        cwd=mooring.cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_until(
        lambda: json.loads(mooring.run("history", "--app", "rel", "--json").stdout or "[]"),
        what="the first release",
    )
    second = mooring.run("up", "--json", "--wait-lock", "2m")
    first.communicate(timeout=120)
    assert first.returncode == 0 and second.returncode == 0, second.stderr
    history = json.loads(mooring.run("history", "--app", "rel", "--json", check=True).stdout)
    assert [r["status"] for r in history] == ["completed", "completed"]


def test_pause_inside_a_readiness_wait_then_resume(mooring: Mooring) -> None:
    flag = mooring.cwd / "slow"
    flag.touch()
    setup(mooring, manifest(replicas=2, parallelism=1, timeout="60s", start_period="60s"))
    up(mooring)
    result: dict = {}

    def apply() -> None:
        result["code"], result["rel"] = up(mooring, V="2", BEHAVIOR="silent", FAIL_FLAG=str(flag))

    worker = threading.Thread(target=apply)
    worker.start()
    wait_until(
        lambda: any(r["state"] == "running" and r["health"] == "starting" for r in mooring.ps("rel")),
        what="the new instance waiting for readiness",
    )
    paused = mooring.run("rollout", "pause", "--app", "rel", "--json")
    assert paused.returncode == 0, paused.stderr
    worker.join(60)
    rel = result["rel"]
    assert result["code"] == 7 and rel["status"] == "in_progress" and rel["rollout"]["state"] == "blocked"
    assert [s for s, _ in states(rel).values()] == ["pending", "pending"]
    assert served_versions(mooring) == {1: "1", 2: "1"}
    flag.unlink()  # the new version now starts fine
    resumed = mooring.run("rollout", "resume", "--app", "rel", "--json")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert json.loads(resumed.stdout)["status"] == "completed"
    assert served_versions(mooring) == {1: "2", 2: "2"}


def test_detach_then_status_history_and_logs_in_text(mooring: Mooring) -> None:
    setup(mooring, manifest(replicas=2, min_ready="1s"))
    detached = mooring.run("up", "--detach", check=True)
    release_id = detached.stdout.split()[1]
    assert "2 create" in detached.stdout
    final = wait_until(
        lambda: (r := release(mooring, release_id))["rollout"]["active"] is False and r,
        what="the detached release to finish",
    )
    assert final["status"] == "completed"
    status = mooring.run("status", "--app", "rel", check=True).stdout
    assert f"release {release_id} (#1)  completed  rollout stable  control active" in status
    assert "targets: 2 ready, 0 failed, 0 left, 0 unchanged, 0 removed" in status
    assert any(line.split()[:3] == ["TARGET", "ACTION", "STATE"] for line in status.splitlines())
    history = mooring.run("history", "--app", "rel", check=True).stdout.splitlines()
    assert history[0].split()[:7] == ["MARK", "#", "RELEASE", "TRIGGER", "SOURCE", "STATUS", "ROLLOUT"]
    assert history[1].split()[:7] == ["current", "1", release_id, "apply", "-", "completed", "stable"]
    recent = mooring.run("logs", "web", "--since", "10m", check=True).stdout
    assert "version 1 replica 1" in recent and "version 1 replica 2" in recent
    assert mooring.run("logs", "web", "--since", "0s", check=True).stdout.strip() == ""
    bad = mooring.run("logs", "web", "--since", "yesterday")
    assert bad.returncode == 1 and "--since" in bad.stderr
