"""The release scenarios that matter for containers, against a real (private) dockerd."""

from __future__ import annotations

import json
import os
import signal

from tests.container.kit import manifest, served, target_states, up
from tests.container.private_dockerd import PrivateDockerd
from tests.engine.conftest import Mooring, wait_until


def containers(dockerd: PrivateDockerd, mooring: Mooring) -> dict[str, dict]:
    """This engine's containers by instance id, from the engine's own labels."""
    rows = dockerd.client().containers(all=True, filters={"label": f"mooring.home={mooring.home}"})
    return {row["Labels"]["mooring.instance"]: row for row in rows}


def test_fresh_apply_runs_labelled_limited_containers(cmooring: Mooring, dockerd: PrivateDockerd) -> None:
    cmooring.write(
        "mooring.toml",
        manifest(
            extra='resources = { cpu = 0.5, memory = "64MiB", pids = 64 }\nvolumes = ["data:/data"]',
            sections="[volume.data]",
        ),
    )
    code, rel = up(cmooring)
    assert code == 0, rel
    assert rel["status"] == "completed" and rel["scope"] == "fresh"
    assert target_states(rel) == {f"web-{i}": ("ready", None) for i in (1, 2, 3)}
    assert served(cmooring) == {1: "1", 2: "1", 3: "1"}
    rows = cmooring.ps("box")
    assert {r["driver"] for r in rows} == {"container"}
    found = containers(dockerd, cmooring)
    assert set(found) == {r["id"] for r in rows}
    client = dockerd.client()
    for row in rows:
        labels = found[row["id"]]["Labels"]
        assert labels["mooring.app"] == "box" and labels["mooring.service"] == "web"
        assert labels["mooring.release"] == rel["id"] and labels["mooring.instance"] == row["id"]
        info = client.inspect_container(found[row["id"]]["Id"])
        host = info["HostConfig"]
        assert host["Init"] is True
        assert host["NanoCpus"] == 500_000_000 and host["Memory"] == 64 * 1024 * 1024
        assert host["PidsLimit"] == 64
        assert host["PortBindings"]["8080/tcp"] == [
            {"HostIp": "127.0.0.1", "HostPort": str(row["ports"]["8080"])}
        ]
        assert [m["Name"] for m in info["Mounts"]] == ["box_data"]  # named volumes are prefixed by the app
        assert info["Config"]["StopSignal"] == "SIGTERM"


def test_rolling_update_with_3_replicas(cmooring: Mooring, dockerd: PrivateDockerd) -> None:
    cmooring.write("mooring.toml", manifest())
    code, first = up(cmooring)
    assert code == 0, json.dumps(first["targets"], indent=1)
    old = set(containers(dockerd, cmooring))
    cmooring.write("mooring.toml", manifest(image="mooring-test/web:2"))
    code, rel = up(cmooring)
    assert code == 0, rel
    assert rel["status"] == "completed" and rel["scope"] == "replacement"
    assert {t["target"]: t["batch"] for t in rel["targets"]} == {"web-1": 1, "web-2": 2, "web-3": 3}
    assert all(t["action"] == "replace" and t["state"] == "ready" for t in rel["targets"])
    assert served(cmooring) == {1: "2", 2: "2", 3: "2"}
    now = containers(dockerd, cmooring)
    assert not old & set(now), "the old containers must be removed after cut-over"
    assert len(now) == 3


def test_readiness_failure_rolls_back(cmooring: Mooring, dockerd: PrivateDockerd) -> None:
    cmooring.write("mooring.toml", manifest(failure_action="rollback"))
    assert up(cmooring)[0] == 0
    # version 2 answers 404 on its health path: unhealthy, so the first batch fails and rolls back
    cmooring.write(
        "mooring.toml",
        manifest(image="mooring-test/web:2", failure_action="rollback", health_path="/missing", timeout="3s"),
    )
    code, rel = up(cmooring)
    assert code == 5, rel
    assert rel["status"] == "rolled_back"
    assert target_states(rel)["web-1"][0] == "rolled_back"
    assert served(cmooring) == {1: "1", 2: "1", 3: "1"}
    assert len(containers(dockerd, cmooring)) == 3  # the failed new container is gone


def test_a_missing_image_fails_the_apply_before_anything_is_recorded_or_stops(
    cmooring: Mooring, dockerd: PrivateDockerd
) -> None:
    cmooring.write("mooring.toml", manifest(order="stop_first"))
    assert up(cmooring)[0] == 0
    before = set(containers(dockerd, cmooring))
    releases = len(json.loads(cmooring.run("history", "--app", "box", "--json", check=True).stdout))
    cmooring.write("mooring.toml", manifest(image="mooring-test/absent:9", order="stop_first"))
    result = cmooring.run("up")
    assert result.returncode != 0, result.stdout
    said = result.stdout + result.stderr
    assert "service web" in said and "mooring-test/absent:9" in said and "nothing was changed" in said, said
    # the apply pulls before it records: no release, nothing stopped (even under stop_first)
    assert len(json.loads(cmooring.run("history", "--app", "box", "--json", check=True).stdout)) == releases
    assert set(containers(dockerd, cmooring)) == before
    assert served(cmooring) == {1: "1", 2: "1", 3: "1"}
    lines = cmooring.run("events", "--app", "box", "--json", check=True).stdout.splitlines()
    app_events = [json.loads(line) for line in lines if line.strip()]
    pulls = [e["type"] for e in app_events if e["type"].startswith("image.")]
    assert pulls[-2:] == ["image.pulling", "image.pull_failed"], pulls


def test_a_retagged_image_is_a_change_and_a_rollback_runs_the_pinned_image(
    cmooring: Mooring, dockerd: PrivateDockerd
) -> None:
    client = dockerd.client()
    client.tag("mooring-test/web:1", "mooring-test/web", "moving")
    cmooring.write("mooring.toml", manifest(image="mooring-test/web:moving"))
    code, rel = up(cmooring)
    assert code == 0, rel
    first = rel["id"]
    again = cmooring.run("up", "--json")  # the tag names the same image: nothing to do
    assert again.returncode == 0 and json.loads(again.stdout).get("nothing_to_do"), again.stdout

    client.tag("mooring-test/web:2", "mooring-test/web", "moving")  # the same name, another image
    plan = cmooring.run("up", "--dry-run")
    assert "image_id" in plan.stdout and "(restart)" in plan.stdout, plan.stdout
    code, rel = up(cmooring)
    assert code == 0, rel
    assert all(t["action"] == "replace" for t in rel["targets"]), rel["targets"]
    assert served(cmooring) == {1: "2", 2: "2", 3: "2"}

    # the tag still names version 2; the rollback runs the image the first release pinned
    back = cmooring.run("rollback", "--app", "box", "--json")
    assert back.returncode == 0, back.stdout + back.stderr
    assert json.loads(back.stdout)["source_release_id"] == first
    assert served(cmooring) == {1: "1", 2: "1", 3: "1"}


def test_engine_killed_then_adopts_by_labels_and_down_spares_foreign_containers(
    cmooring: Mooring, dockerd: PrivateDockerd
) -> None:
    client = dockerd.client()
    foreign = client.create_container("mooring-test/web:1", command=["/bin/sleep", "600"], name="foreign-app")
    client.start(foreign["Id"])
    try:
        cmooring.write("mooring.toml", manifest())
        assert up(cmooring)[0] == 0
        before = {r["id"]: r for r in cmooring.ps("box")}
        ids = {i: row["Id"] for i, row in containers(dockerd, cmooring).items()}
        pid = cmooring.engine_pid()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: cmooring.engine_pid() is None, what="the killed engine to be gone")
        # the next command starts a new engine, which adopts the running containers
        after = {r["id"]: r for r in cmooring.ps("box")}
        assert set(after) == set(before)
        assert all(r["state"] == "running" and r["restarts"] == 0 for r in after.values())
        assert {i: row["Id"] for i, row in containers(dockerd, cmooring).items()} == ids  # same containers
        assert served(cmooring) == {1: "1", 2: "1", 3: "1"}
        # adopted instances are supervised again: a container killed now is restarted by mooring
        victim = next(iter(ids.values()))
        client.kill(victim)
        wait_until(
            lambda: any(r["restarts"] == 1 and r["state"] == "running" for r in cmooring.ps("box")),
            timeout=30,
            what="mooring to restart the killed container",
        )
        down = cmooring.run("down", "--app", "box")
        assert down.returncode == 0, down.stderr
        assert containers(dockerd, cmooring) == {}
        assert client.inspect_container(foreign["Id"])["State"]["Running"] is True
    finally:
        client.remove_container(foreign["Id"], force=True)
