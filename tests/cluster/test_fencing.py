"""Split brain is impossible by construction, and this tries: the leader is paused (SIGSTOP) past its
lease in the middle of a rollout, the follower takes over and finishes it, and the old leader,
resumed, writes nothing: its fence refuses, it exits, and the journal shows one epoch per leader.
Then the CLI pointed at a follower: reads answered, writes reach the leader."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time

from tests.cluster.ha_kit import Cluster, up_json, wait_leader
from tests.engine.releases_kit import APP_SCRIPT, manifest
from tests.kit import wait_until

DEPOSED_EXIT_CODE = 75


def _start(cluster: Cluster, **manifest_args: object) -> None:
    shutil.copy(APP_SCRIPT, cluster.work / "versioned.py")
    (cluster.work / "mooring.toml").write_text(manifest(replicas=3, parallelism=1, **manifest_args))  # type: ignore[arg-type]
    cluster.a.start()
    wait_leader(cluster, cluster.a)
    cluster.b.start()
    assert cluster.b.role() == "follower"


def test_paused_leader_is_fenced_out_when_it_wakes(cluster: Cluster) -> None:
    _start(cluster, delay="1s")
    assert up_json(cluster.a.run("up", "--json"))["status"] == "completed"
    first_release = cluster.events("rel")[-1]["release_id"]
    up = subprocess.Popen(
        [sys.executable, "-m", "mooring", "up", "--json"],
        env={**cluster.a.env, "V": "2"},
        cwd=cluster.work,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until(
            lambda: any(
                e["type"] == "target.ready" and e["release_id"] != first_release
                for e in cluster.events("rel")
            ),
            timeout=60,
            what="the first target of the update to be ready",
        )
        cluster.a.signal(signal.SIGSTOP)
        paused_at = time.time()
        wait_until(lambda: cluster.b.role() == "leader", timeout=30, what="b to take over from the paused a")
        release_id = cluster.b.get("/v1/apps/rel/releases")[0]["id"]
        assert release_id != first_release
        rel = wait_until(
            lambda: (r := cluster.b.get(f"/v1/releases/{release_id}")) and not r["rollout"]["active"] and r,
            timeout=90,
            what="b to finish the release",
        )
        assert rel["status"] == "completed", rel
        written_by_a = [e for e in cluster.events("rel") if e["epoch"] == 1]

        cluster.a.signal(signal.SIGCONT)
        assert cluster.a.proc is not None
        assert cluster.a.proc.wait(timeout=30) == DEPOSED_EXIT_CODE
    finally:
        up.wait(timeout=60)

    events = cluster.events("rel")
    assert [e for e in events if e["epoch"] == 1] == written_by_a, "the resumed old leader wrote"
    epochs = [e["epoch"] for e in events]
    assert epochs == sorted(epochs) and set(epochs) == {1, 2}, epochs  # one run of epochs per leader
    changed = [e for e in events if e["type"] == "engine.leader_changed"]
    assert [e["payload"]["epoch"] for e in changed] == [2], changed
    # the lease (3 s) bounds how long a paused leader keeps the lock
    print(f"takeover after SIGSTOP: {changed[0]['created_at'].timestamp() - paused_at:.2f}s")
    assert "no longer leads" in cluster.a.log_text()
    ready = sorted(
        e["payload"]["target"]
        for e in events
        if e["type"] == "target.ready" and e["release_id"] == release_id
    )
    assert ready == ["web-1", "web-2", "web-3"], ready
    wait_until(lambda: len(cluster.processes()) == 3, timeout=20, what="exactly 3 app processes (no orphans)")


def test_cli_pointed_at_the_follower(cluster: Cluster) -> None:
    _start(cluster)
    created = cluster.a.run("token", "create", "--scope", "admin", "--name", "ops", "--json")
    assert created.returncode == 0, created.stderr
    remote = {"MOORING_SERVER": cluster.b.address, "MOORING_TOKEN": json.loads(created.stdout)["token"]}

    # a write through the follower reaches the leader: the release is journalled under its epoch
    body = up_json(cluster.b.run("up", "--json", **remote))
    assert body["status"] == "completed", body
    assert {e["epoch"] for e in cluster.events("rel")} == {1}
    # reads: history from the follower's store, ps (live instances) from the leader
    history = cluster.b.run("history", "--app", "rel", "--json", **remote)
    assert history.returncode == 0, history.stderr
    assert json.loads(history.stdout)[0]["id"] == body["id"]
    ps = cluster.b.run("ps", "--app", "rel", "--json", **remote)
    assert ps.returncode == 0, ps.stderr
    assert len(json.loads(ps.stdout)) == 3
    # and on the follower's own host, over its unix socket
    local = cluster.b.run("up", "--json", V="2")
    assert up_json(local)["status"] == "completed", local.stderr
    status = cluster.b.run("engine", "status")
    assert status.returncode == 0, status.stderr
    assert "this engine is the follower" in status.stdout and "epoch 1" in status.stdout, status.stdout
    info = json.loads(cluster.b.run("engine", "status", "--json").stdout)
    assert info["role"] == "follower"
    assert [e["leader"] for e in info["cluster"]["engines"]] == [True, False]
