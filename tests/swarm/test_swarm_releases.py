"""Releases on a real 3-node Swarm, driven through the CLI as an operator would.

The engine runs on this host and is pointed at the Swarm's manager (MOORING_SWARM_HOST); the app says
``cluster = true``. The same release contract holds as on one host: batches gated on health, exit
codes, per-target truth, pause on failure, rollback to an older release; and a node lost mid-rollout
is recorded (node.down, the task running elsewhere).
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.engine.conftest import Mooring, free_port, mooring, wait_until  # noqa: F401 - the per-test engine fixture
from tests.engine.test_edge_survival import answers_more, assert_no_failures
from tests.engine.test_zero_downtime import clients, stop
from tests.swarm.swarm_fixture import Swarm, kill_node, remove_services, swarm_with_images

EXIT_PAUSED = 7  # paused or blocked (docs/cli.md)


@pytest.fixture(scope="module")
def swarm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Swarm]:
    with swarm_with_images(Path(tmp_path_factory.mktemp("swr"))) as cluster:
        yield cluster


@pytest.fixture
def smooring(mooring: Mooring, swarm: Swarm) -> Iterator[Mooring]:  # noqa: F811
    mooring.env["MOORING_SWARM_HOST"] = swarm.manager.url
    yield mooring
    remove_services(swarm, f"mooring.home={mooring.home}")  # what the test left (none when it passed)


def manifest(
    image: str = "mooring-test/web:1",
    health_path: str = "/health",
    failure_action: str = "pause",
    env: str = "{}",
    ports: str = '["8080"]',
    strategy: str = "rolling",
) -> str:
    return f"""
[app]
name = "shop"
cluster = true

[service.web]
image = "{image}"
command = ["httpd", "-f", "-p", "8080", "-h", "/www"]
ports = {ports}
replicas = 6
stop_timeout = "1s"
env = {env}

[service.web.health_check]
type = "http"
port = 8080
path = "{health_path}"
interval = "300ms"
timeout = "2s"
retries = 2
start_period = "10s"  # fail-fast readiness: a task slow to listen on a busy machine is not a failure

[service.web.rollout]
strategy = "{strategy}"
parallelism = 2
failure_action = "{failure_action}"
health_check_timeout = "60s"
"""


def up(m: Mooring, *args: str) -> tuple[int, dict[str, Any]]:
    result = m.run("up", "--json", *args, timeout=300)
    try:
        return result.returncode, json.loads(result.stdout)
    except json.JSONDecodeError:
        raise AssertionError(  # noqa: B904 - the output is the cause
            f"up printed no JSON (exit {result.returncode}):\n{result.stdout}\n{result.stderr}"
        )


def serving(m: Mooring) -> dict[str, str]:
    """What each running instance answers, asked on its node's published port."""
    answers = {}
    for row in m.ps("shop"):
        if row["state"] == "running" and row["upstream"]:
            answers[row["id"]] = (
                urllib.request.urlopen(f"http://{row['upstream']}/", timeout=5).read().decode()
            )
    return answers


def test_six_replicas_spread_roll_pause_and_roll_back(smooring: Mooring, swarm: Swarm) -> None:
    m = smooring
    m.write("mooring.toml", manifest())
    code, first = up(m)
    assert code == 0, json.dumps(first, indent=1)[:3000]
    rows = m.ps("shop")
    assert len(rows) == 6 and {r["driver"] for r in rows} == {"swarm"}, rows
    spread = Counter(r["node"] for r in rows)
    assert len(spread) == 3, spread  # Swarm spread the six slots over the three nodes
    assert set(serving(m).values()) == {"1"}

    m.write("mooring.toml", manifest("mooring-test/web:2"))
    code, second = up(m)
    assert code == 0 and second["status"] == "completed", json.dumps(second, indent=1)[:4000]
    assert set(serving(m).values()) == {"2"}
    assert len(m.ps("shop")) == 6

    # a version whose health check never passes: the first batch fails, the release pauses, v2 serves on
    # a canary of a version whose health check never passes: the canary fails, the release pauses
    m.write(
        "mooring.toml",
        manifest("mooring-test/web:2", health_path="/nosuch", env='{ BROKEN = "1" }', strategy="canary"),
    )
    code, third = up(m)
    assert code == EXIT_PAUSED, json.dumps(third, indent=1)[:4000]
    # as on one host: nothing of the new version serves, so the release is failed and paused (blocked)
    assert third["status"] == "failed" and third["rollout"]["state"] == "blocked", third
    assert third["rollout"]["control"] == "paused", third["rollout"]
    failed = [t for t in third["targets"] if t["state"] == "failed"]
    assert failed and all(t["reason"] in ("readiness_failed", "readiness_timeout") for t in failed), failed
    explain = m.run("status", "--app", "shop", "--explain", check=True).stdout
    assert "web" in explain

    # rollback to the first release, an older one than the last that served
    result = m.run("rollback", "--app", "shop", "--release", first["id"], "--json", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert set(serving(m).values()) == {"1"}
    assert len(m.ps("shop")) == 6
    history = json.loads(m.run("history", "--app", "shop", "--json", check=True).stdout)
    assert history[0]["trigger"] == "rollback", history[0]

    nodes = json.loads(m.run("nodes", "--json", check=True).stdout)
    assert sorted(n["state"] for n in nodes) == ["ready"] * 3
    assert sum(n["tasks"] for n in nodes) == 6

    m.run("down", "--app", "shop", check=True, timeout=300)
    wait_until(
        lambda: not swarm.manager.client().services.list(filters={"label": f"mooring.home={m.home}"}),
        timeout=60,
        what="down to remove every Swarm service of the app",
    )


def test_a_node_lost_mid_rollout_is_recorded_and_its_tasks_run_elsewhere(
    smooring: Mooring, swarm: Swarm
) -> None:
    m = smooring
    m.write("mooring.toml", manifest())
    code, _ = up(m)
    assert code == 0
    victim = swarm.nodes[2]
    on_victim = [r["id"] for r in m.ps("shop") if r["node"] == victim.netns]
    assert on_victim, "no instance on the node to kill"

    m.write("mooring.toml", manifest("mooring-test/web:2"))
    rollout = subprocess.Popen(
        [sys.executable, "-m", "mooring", "up", "--json"],
        cwd=m.cwd,
        env=m.env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(
            lambda: '"target.ready"' in m.run("events", "--app", "shop", "--json").stdout,
            timeout=120,
            what="the rollout's first target to be ready",
        )
        kill_node(victim)  # mid-rollout: the node's dockerd dies, its tasks are lost
        out, _ = rollout.communicate(timeout=300)
    finally:
        if rollout.poll() is None:
            rollout.kill()
    release = json.loads(out)
    code = rollout.returncode
    assert code in (0, EXIT_PAUSED), release  # finished, or paused with the truth recorded
    assert release["status"] in ("completed", "partially_failed", "failed"), release
    rows = wait_until(
        lambda: (
            (r := m.ps("shop"))
            and all(x["state"] == "running" and x["node"] != victim.netns for x in r)
            and r
        ),
        timeout=120,
        what="every instance running off the dead node",
    )
    assert len(rows) == 6
    wait_until(
        lambda: (
            {n["name"]: n for n in json.loads(m.run("nodes", "--json", check=True).stdout)}[victim.netns][
                "state"
            ]
            == "down"
        ),
        timeout=60,
        what="the dead node to show down",
    )
    events = m.run("events", "--app", "shop", "--json", check=True).stdout
    assert '"node.down"' in events or "node.down" in events, events[-2000:]


def test_node_drain_under_load_fails_no_request_on_the_published_port(
    smooring: Mooring, swarm: Swarm
) -> None:
    """`mooring node drain`: the node's instances leave the edge and finish their sessions before
    Swarm stops their tasks; the edge follows each task to its new node. Two clients (keep-alive and
    a new connection per request) hammer the host's published port throughout."""
    m = smooring
    port = free_port()
    m.write("mooring.toml", manifest(ports=f'["127.0.0.1:{port}:8080"]'))
    code, first = up(m)
    assert code == 0, json.dumps(first, indent=1)[:3000]
    victim = swarm.nodes[1].netns
    assert any(r["node"] == victim for r in m.ps("shop")), "no instance on the node to drain"
    running = clients(port)
    try:
        m.run("node", "drain", victim, check=True, timeout=120)
        rows = wait_until(
            lambda: (
                (r := m.ps("shop"))
                and len(r) == 6
                and all(x["state"] == "running" and x["node"] != victim for x in r)
                and r
            ),
            timeout=180,
            what="every instance running off the drained node",
        )
        answers_more(running)
    finally:
        stop(running)
        m.run("node", "activate", victim, timeout=120)
    assert_no_failures(running)
    assert set(Counter(r["node"] for r in rows)) <= {n.netns for n in swarm.nodes} - {victim}
    lines = m.run("events", "--app", "shop", "--json", check=True).stdout.splitlines()
    assert any(json.loads(line)["type"] == "instance.moved" for line in lines if line.strip()), (
        "moves are events"
    )
    m.run("down", "--app", "shop", check=True, timeout=300)


def set_secret(m: Mooring, name: str, value: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mooring", "secret", "set", name, "--app", "shop"],
        input=value,
        capture_output=True,
        text=True,
        env=m.env,
        cwd=m.cwd,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def in_task(swarm: Swarm, instance_id: str, *command: str) -> str:
    """Run ``command`` in the running container of the instance's task, wherever Swarm placed it."""
    for node in swarm.nodes:
        for container in node.client().containers.list(filters={"label": f"mooring.instance={instance_id}"}):
            code, out = container.exec_run(list(command))
            assert code == 0, out
            return str(out.decode())
    raise AssertionError(f"no running container of {instance_id} on any node")


def test_file_secrets_are_swarm_secrets_and_a_new_version_replaces_the_tasks(
    smooring: Mooring, swarm: Swarm
) -> None:
    m = smooring
    set_secret(m, "TOKEN", "first-value")
    text = manifest().replace(
        "replicas = 6", 'replicas = 2\nsecrets = { TOKEN = { env = "TOKEN", file = "token" } }'
    )
    m.write("mooring.toml", text)
    code, first = up(m)
    assert code == 0, json.dumps(first, indent=1)[:3000]
    ids = [r["id"] for r in m.ps("shop")]
    assert len(ids) == 2
    for iid in ids:  # on whichever node runs it: the file Swarm mounted, the env, where the files are
        assert in_task(swarm, iid, "cat", "/run/secrets/token") == "first-value"
        assert in_task(swarm, iid, "sh", "-c", "echo $TOKEN $MOORING_SECRETS_DIR").split() == [
            "first-value",
            "/run/secrets",
        ]
    manager = swarm.manager.client()
    names = [s.name for s in manager.secrets.list(filters={"label": "mooring.app=shop"})]
    assert len(names) == 1 and "-TOKEN-v1-" in names[0], names
    assert not any("first-value" in json.dumps(r) for r in m.ps("shop")), "a value reached ps"

    set_secret(m, "TOKEN", "second-value")
    code, second = up(m)
    assert code == 0, json.dumps(second, indent=1)[:3000]
    assert all(t["action"] == "replace" for t in second["targets"]), second["targets"]
    for row in m.ps("shop"):
        assert in_task(swarm, row["id"], "cat", "/run/secrets/token") == "second-value"

    m.run("down", "--app", "shop", check=True, timeout=300)
    wait_until(
        lambda: not manager.secrets.list(filters={"label": "mooring.app=shop"}),
        timeout=60,
        what="down to remove the app's Swarm secrets",
    )
