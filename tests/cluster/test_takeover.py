"""Two engines on one PostgreSQL: the leader dies in the middle of a 3-batch rolling update, at each
of 10 points, and the follower takes over within 5 s and finishes the release as it would have
ended: completed, every target ready once, every replica on the new version, no orphan.

The leader dies by the fault hook (MOORING_FAULT=after:<event>#<n>: ``os._exit`` right after that
event commits, no cleanup at all, exactly what PostgreSQL sees of a kill -9: the sockets close) so
that each point is hit exactly; ``test_kill_9_mid_rollout`` sends a real SIGKILL.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.cluster.ha_kit import FAULT_POINTS, Cluster, EngineNode, up_json, wait_leader
from tests.engine.releases_kit import APP_SCRIPT, manifest
from tests.kit import wait_until

TAKEOVER_BUDGET = 5.0


def _first_up(cluster: Cluster) -> EngineNode:
    """Engine a leads (it started first), b follows; version 1 of the app runs, 3 replicas."""
    shutil.copy(APP_SCRIPT, cluster.work / "versioned.py")
    (cluster.work / "mooring.toml").write_text(manifest(replicas=3, parallelism=1))
    cluster.a.start()
    wait_leader(cluster, cluster.a)
    cluster.b.start()
    assert cluster.b.role() == "follower"
    body = up_json(cluster.a.run("up", "--json"))
    assert body["status"] == "completed", body
    return cluster.a


def _served(cluster: Cluster, node: EngineNode) -> dict[int, str]:
    out = {}
    for row in node.get("/v1/instances?app=rel"):
        if row["service"] == "web" and row["state"] == "running":
            port = next(iter(row["ports"].values()))
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as reply:
                out[row["replica"]] = reply.read().decode()
    return out


def _check_converged(cluster: Cluster, node: EngineNode, release_id: str) -> None:
    rel = wait_until(
        lambda: (r := node.get(f"/v1/releases/{release_id}")) and not r["rollout"]["active"] and r,
        timeout=90,
        what="the release to settle on the new leader",
    )
    assert rel["status"] == "completed", rel
    assert sorted(t["state"] for t in rel["targets"]) == ["ready"] * 3, rel["targets"]
    ready = [
        e["payload"].get("target")
        for e in cluster.events("rel")
        if e["type"] == "target.ready" and e["release_id"] == release_id
    ]
    assert sorted(ready) == ["web-1", "web-2", "web-3"], f"a target was replayed or lost: {ready}"
    assert _served(cluster, node) == {1: "2", 2: "2", 3: "2"}
    wait_until(lambda: len(cluster.processes()) == 3, timeout=20, what="exactly 3 app processes (no orphans)")


def _epochs_in_order(cluster: Cluster, old: int, new: int) -> None:
    """One run of events per leader, in the journal's order: nothing of the old epoch after the new began."""
    epochs = [e["epoch"] for e in cluster.events("rel")]
    assert epochs == sorted(epochs), epochs
    assert epochs[-1] == new and old in epochs, epochs


@pytest.mark.parametrize("fault", FAULT_POINTS)
def test_leader_dies_mid_rollout_follower_finishes(cluster: Cluster, fault: str) -> None:
    _first_up(cluster)
    # the leader is restarted with the fault armed (a restart of a lone leader: b takes over meanwhile,
    # so the roles are set up again the other way round: b leads with the fault)
    cluster.b.stop()
    cluster.a.stop()
    cluster.b.start(MOORING_FAULT=f"after:{fault}")
    wait_leader(cluster, cluster.b)
    cluster.a.start()
    assert cluster.a.role() == "follower"
    epoch_before = cluster.b.info()["cluster"]["epoch"]

    up = cluster.b.run("up", "--json", V="2")
    assert up.returncode in (0, 9), (up.returncode, up.stdout, up.stderr)  # 9: its engine died under it
    assert cluster.b.proc is not None
    assert cluster.b.proc.wait(timeout=60) == 70, "the fault hook should have ended the leader"

    wait_until(lambda: cluster.a.role() == "leader", timeout=TAKEOVER_BUDGET + 5, what="a to lead")
    # the hook exits right after committing its event: the old epoch's last event is when it died
    # (at the latest), so this measures the takeover from before the death: an upper bound
    died_at = max(e["created_at"].timestamp() for e in cluster.events("rel") if e["epoch"] == epoch_before)
    took = _takeover_seconds_after(cluster, died_at, epoch_before + 1)
    assert took < TAKEOVER_BUDGET, f"the follower took {took:.2f}s to take over"
    release_id = cluster.a.get("/v1/apps/rel/releases")[0]["id"]
    _check_converged(cluster, cluster.a, release_id)
    _epochs_in_order(cluster, epoch_before, epoch_before + 1)
    print(f"takeover after {fault}: {took:.2f}s")


def _takeover_seconds_after(cluster: Cluster, died_at: float, epoch: int) -> float:
    # its role turns `leader` as it takes the lock; its first write (engine.leader_changed) follows
    new = wait_until(
        lambda: [e for e in cluster.events("rel") if e["epoch"] == epoch],
        timeout=TAKEOVER_BUDGET + 5,
        what="the new leader's first write",
    )
    assert new[0]["type"] == "engine.leader_changed", new[0]
    return float(new[0]["created_at"].timestamp() - died_at)


def test_kill_9_mid_rollout(cluster: Cluster) -> None:
    leader = _first_up(cluster)
    up = subprocess.Popen(
        [sys.executable, "-m", "mooring", "up", "--json"],
        env={**leader.env, "V": "2"},
        cwd=cluster.work,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until(
            lambda: (
                any(
                    e["type"] == "target.ready"
                    and e["payload"].get("target") == "web-1"
                    and e["release_id"] != cluster.events("rel")[0]["release_id"]
                    for e in cluster.events("rel")[-30:]
                )
                or None
            ),
            timeout=60,
            what="the first target of the update to be ready",
        )
        leader.signal(signal.SIGKILL)
        died_at = time.time()
        assert leader.proc is not None
        leader.proc.wait(timeout=10)
    finally:
        up.wait(timeout=60)
    wait_until(lambda: cluster.b.role() == "leader", timeout=TAKEOVER_BUDGET + 5, what="b to lead")
    took = _takeover_seconds_after(cluster, died_at, 2)
    assert took < TAKEOVER_BUDGET, f"the follower took {took:.2f}s to take over"
    release_id = cluster.b.get("/v1/apps/rel/releases")[0]["id"]
    _check_converged(cluster, cluster.b, release_id)
    _epochs_in_order(cluster, 1, 2)
    print(f"takeover after kill -9: {took:.2f}s")
