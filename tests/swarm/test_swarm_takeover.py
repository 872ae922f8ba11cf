"""Two engines on one PostgreSQL driving one real 3-node Swarm: the leader is killed (kill -9, and the
fault hook at 10 points) in the middle of a 3-batch rolling update; the follower adopts the Swarm
services by the cluster's label, resumes the release within 5 s and finishes it, every target ready
once, one service per slot."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.ha_kit import (
    CLUSTER,
    FAULT_POINTS,
    Cluster,
    EngineNode,
    make_cluster,
    up_json,
    wait_leader,
)
from tests.kit import wait_until
from tests.store.conftest import PostgresServer
from tests.store.conftest import postgres_server as postgres_server  # the session's PostgreSQL
from tests.swarm.swarm_fixture import Swarm, remove_services, swarm_with_images

TAKEOVER_BUDGET = 5.0


@pytest.fixture(scope="module")
def swarm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Swarm]:
    with swarm_with_images(Path(tmp_path_factory.mktemp("swha"))) as cluster:
        yield cluster


@pytest.fixture
def scluster(tmp_path: Path, postgres_server: PostgresServer, swarm: Swarm) -> Iterator[Cluster]:
    made = make_cluster(tmp_path, postgres_server.create_database(f"mooring_swha_{int(time.time() * 1000)}"))
    for node in (made.a, made.b):
        node.env["MOORING_SWARM_HOST"] = swarm.manager.url
    try:
        yield made
    finally:
        made.teardown()
        # the next test's slots need the ports these tasks hold until they have stopped
        remove_services(swarm, f"mooring.home=cluster:{CLUSTER}")


def manifest(image: str) -> str:
    return f"""
[app]
name = "shop"
cluster = true

[service.web]
image = "{image}"
command = ["httpd", "-f", "-p", "8080", "-h", "/www"]
ports = ["8080"]
replicas = 3
stop_timeout = "1s"

[service.web.health_check]
type = "http"
port = 8080
path = "/health"
interval = "300ms"
timeout = "2s"
retries = 2
start_period = "2s"

[service.web.rollout]
parallelism = 1
health_check_timeout = "60s"
"""


def _first_up(c: Cluster) -> dict[str, object]:
    (c.work / "mooring.toml").write_text(manifest("mooring-test/web:1"))
    c.a.start()
    wait_leader(c, c.a)
    c.b.start()
    first = up_json(c.a.run("up", "--json", timeout=300))
    assert first["status"] == "completed", first
    (c.work / "mooring.toml").write_text(manifest("mooring-test/web:2"))
    return first


def _finished_once(c: Cluster, swarm: Swarm, node: EngineNode, old: int, new: int) -> None:
    """The new leader ends the release as it would have: completed, each target ready once, each slot
    one Swarm service on the new version, and the journal one run of events per leader."""
    release_id = node.get("/v1/apps/shop/releases")[0]["id"]
    rel = wait_until(
        lambda: (r := node.get(f"/v1/releases/{release_id}")) and not r["rollout"]["active"] and r,
        timeout=240,
        what="the new leader to finish the release",
    )
    assert rel["status"] == "completed", json.dumps(rel, indent=1)[:3000]
    events = c.events("shop")
    ready = sorted(
        e["payload"]["target"]
        for e in events
        if e["type"] == "target.ready" and e["release_id"] == release_id
    )
    assert ready == ["web-1", "web-2", "web-3"], ready
    epochs = [e["epoch"] for e in events]
    assert epochs == sorted(epochs) and old in epochs and epochs[-1] == new, epochs
    rows = [r for r in node.get("/v1/instances?app=shop") if r["state"] == "running"]
    assert sorted(r["replica"] for r in rows) == [1, 2, 3], rows
    answers = {urllib.request.urlopen(f"http://{r['upstream']}/", timeout=5).read().decode() for r in rows}
    assert answers == {"2"}
    services = swarm.manager.client().services.list(filters={"label": f"mooring.home=cluster:{CLUSTER}"})
    assert len(services) == 3, [s.name for s in services]  # one per slot: nothing orphaned, none doubled


def _took(c: Cluster, died_at: float, epoch: int) -> float:
    # its role turns `leader` as it takes the lock; its first write (engine.leader_changed) follows
    new = wait_until(
        lambda: [e for e in c.events("shop") if e["epoch"] == epoch],
        timeout=TAKEOVER_BUDGET + 5,
        what="the new leader's first write",
    )
    assert new[0]["type"] == "engine.leader_changed", new[:1]
    return float(new[0]["created_at"].timestamp() - died_at)


def test_leader_killed_mid_swarm_rollout_follower_adopts_and_finishes(
    scluster: Cluster, swarm: Swarm
) -> None:
    c = scluster
    first = _first_up(c)
    up = subprocess.Popen(
        [sys.executable, "-m", "mooring", "up", "--json"], env=c.a.env, cwd=c.work, stdout=subprocess.PIPE
    )
    try:
        wait_until(
            lambda: any(
                e["type"] == "target.ready" and e["release_id"] != first["id"] for e in c.events("shop")
            ),
            timeout=180,
            what="the first target of the update to be ready",
        )
        c.a.signal(signal.SIGKILL)
        died_at = time.time()
    finally:
        up.wait(timeout=120)
    wait_until(lambda: c.b.role() == "leader", timeout=TAKEOVER_BUDGET + 5, what="b to lead")
    took = _took(c, died_at, 2)
    assert took < TAKEOVER_BUDGET, took
    _finished_once(c, swarm, c.b, 1, 2)
    print(f"swarm takeover after kill -9: {took:.2f}s")


# The whole campaign costs ~16 min on the Swarm fixture: CI runs three points of it (before, inside
# and between batches; the ten run with the host-process workloads in tests/cluster/test_takeover.py),
# MOORING_FULL_CAMPAIGN=1 runs all ten here (docs/cluster.md has the figures of a full run).
CI_POINTS = ["release.started#1", "instance.stopped#1", "target.starting#2"]
POINTS = FAULT_POINTS if os.environ.get("MOORING_FULL_CAMPAIGN") == "1" else CI_POINTS


@pytest.mark.parametrize("fault", POINTS)
def test_leader_dies_at_each_point_of_a_swarm_rollout(scluster: Cluster, swarm: Swarm, fault: str) -> None:
    """The leader dies right after ``fault`` commits (the fault hook: ``os._exit``, as kill -9)."""
    c = scluster
    _first_up(c)
    c.b.stop()
    c.a.stop()
    c.b.start(MOORING_FAULT=f"after:{fault}")  # b leads (epoch 2) and will die at the fault
    wait_leader(c, c.b)
    c.a.start()
    up = c.b.run("up", "--json", timeout=300)
    assert up.returncode in (0, 9), (up.returncode, up.stdout, up.stderr)
    assert c.b.proc is not None and c.b.proc.wait(timeout=120) == 70
    wait_until(lambda: c.a.role() == "leader", timeout=TAKEOVER_BUDGET + 5, what="a to lead")
    # the hook exits right after its event commits: the last event of epoch 2 is when b died at the latest
    died_at = max(e["created_at"].timestamp() for e in c.events("shop") if e["epoch"] == 2)
    took = _took(c, died_at, 3)
    assert took < TAKEOVER_BUDGET, took
    _finished_once(c, swarm, c.a, 2, 3)
    print(f"swarm takeover after {fault}: {took:.2f}s")
