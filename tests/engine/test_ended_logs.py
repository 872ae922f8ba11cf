"""Logs of ended instances: a pre-deploy worker's output, a replaced instance by its id, all of a
release, and the retention that bounds them; ``apps`` counts only long-running instances."""

from __future__ import annotations

import json

from tests.engine.conftest import Mooring, wait_until


def manifest(version: str, keep: int = 10) -> str:
    return f"""
[app]
name = "ended"

[worker.migrate]
command = "echo migrated {version}"

[service.web]
command = "echo web {version} up; exec sleep 300"
depends_on = ["migrate"]
logs = {{ keep = {keep} }}

[cron.tick]
command = "exec sleep 300"
every = "1s"
"""


def ids(mooring: Mooring, service: str) -> list[str]:
    return [r["id"] for r in mooring.ps("ended") if r["service"] == service]


def test_logs_reach_a_worker_run_and_replaced_instances_within_their_retention(mooring: Mooring) -> None:
    mooring.write("mooring.toml", manifest("v1", keep=1))
    mooring.run("up", check=True)
    (first,) = ids(mooring, "web")
    # the pre-deploy worker ran and was forgotten: its output is still reachable by its name
    worker = mooring.run("logs", "migrate", "--app", "ended")
    assert worker.returncode == 0 and "migrated v1" in worker.stdout, worker.stdout + worker.stderr
    # apps: the running cron run has no health check, yet it is no part of the app's health
    wait_until(lambda: any(r["service"] == "tick" for r in mooring.ps("ended")), what="a cron run")
    (row,) = json.loads(mooring.run("apps", "--json", check=True).stdout)
    assert row["instances"] == {"total": 1, "healthy": 1}, row

    mooring.write("mooring.toml", manifest("v2", keep=1))
    up = json.loads(mooring.run("up", "--json", check=True).stdout)
    (second,) = ids(mooring, "web")
    replaced = mooring.run("logs", first, "--app", "ended")
    assert replaced.returncode == 0 and "web v1 up" in replaced.stdout, replaced.stdout + replaced.stderr
    of_release = mooring.run("logs", "--release", up["id"], "--app", "ended")
    assert "web v2 up" in of_release.stdout and "web v1 up" not in of_release.stdout, of_release.stdout

    # keep = 1: a third version's roll drops the first instance's logs, keeps the second's
    mooring.write("mooring.toml", manifest("v3", keep=1))
    mooring.run("up", check=True)
    gone = mooring.run("logs", first, "--app", "ended")
    assert gone.returncode != 0 and f"no instance of app 'ended' matches {first!r}" in gone.stderr, (
        gone.stderr
    )
    assert not list((mooring.home / "logs").glob(f"{first}.*"))
    kept = mooring.run("logs", second, "--app", "ended")
    assert "web v2 up" in kept.stdout, kept.stdout + kept.stderr
