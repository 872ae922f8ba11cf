"""`mooring engine status|stop|restart`, and `down` recorded in history, events and apps."""

from __future__ import annotations

import json

import psutil

from tests.engine.conftest import Mooring
from tests.engine.releases_kit import manifest, setup, up


def test_engine_status_stop_restart_leave_the_workloads_running(mooring: Mooring) -> None:
    assert mooring.run("engine", "status").returncode == 1  # none yet, and status does not start one
    assert mooring.engine_pid() is None
    setup(mooring, manifest(replicas=2))
    up(mooring)
    pids = sorted(r["pid"] for r in mooring.ps("rel"))
    engine = mooring.engine_pid()
    text = mooring.run("engine", "status", check=True).stdout
    assert f"engine: running, pid {engine}, version " in text
    assert f"unix socket {mooring.home / 'engine.sock'}" in text and f"log: {mooring.home}/engine.log" in text
    assert "2 instance(s)" in text
    info = json.loads(mooring.run("engine", "status", "--json", check=True).stdout)
    assert info["running"] is True and info["pid"] == engine

    stopped = mooring.run("engine", "stop", check=True).stdout
    assert f"engine pid {engine} stopped; its 2 instance(s) keep running" in stopped
    assert not psutil.pid_exists(engine) or psutil.Process(engine).status() == psutil.STATUS_ZOMBIE
    assert all(psutil.pid_exists(p) for p in pids)
    assert mooring.run("engine", "status").returncode == 1

    restarted = mooring.run("engine", "restart", check=True).stdout
    assert "2 instance(s) adopted" in restarted, restarted
    assert sorted(r["pid"] for r in mooring.ps("rel")) == pids
    again = mooring.engine_pid()
    assert again and again != engine
    restarted = mooring.run("engine", "restart", check=True).stdout
    assert f"pid {again} stopped" in restarted
    assert sorted(r["pid"] for r in mooring.ps("rel")) == pids


def test_down_is_recorded_in_history_events_and_apps(mooring: Mooring) -> None:
    setup(mooring, manifest(replicas=2))
    _, first = up(mooring)
    _, second = up(mooring, V="2")
    result = mooring.run("down", "--app", "rel", check=True).stdout
    assert "stopped 2 instances (release " in result and "trigger down" in result

    history = json.loads(mooring.run("history", "--app", "rel", "--json", check=True).stdout)
    latest = history[0]
    assert latest["trigger"] == "down" and latest["status"] == "completed" and latest["current"]
    assert latest["message"] == "down: stopped 2 instance(s) of the app"
    assert latest["source_release_id"] == second["id"]
    # the release that served before the down is what a rollback (or a new up) brings back
    assert [r["id"] for r in history if r["previous_successful"]] == [second["id"]]
    timeline = json.loads(mooring.run("history", latest["id"], "--app", "rel", "--json", check=True).stdout)
    assert [e["type"] for e in timeline] == ["app.down"]
    events = mooring.run("events", "--app", "rel", check=True).stdout
    assert "app.down" in events

    [row] = json.loads(mooring.run("apps", "--json", check=True).stdout)
    assert row["down"] is True and row["instances"] == {"total": 0, "healthy": 0}
    table = mooring.run("apps", check=True).stdout.splitlines()
    assert table[1].split()[3] == "down", table
    status = mooring.run("status", "--app", "rel", check=True).stdout
    assert status.startswith(f"app rel: down (mooring down, release {latest['id']})"), status
    assert json.loads(mooring.run("status", "--app", "rel", "--json", check=True).stdout)["down"] is True

    # a second down changes nothing and records nothing; up brings the app back
    mooring.run("down", "--app", "rel", check=True)
    assert len(json.loads(mooring.run("history", "--app", "rel", "--json", check=True).stdout)) == 3
    code, back = up(mooring, V="2")
    assert code == 0 and back["number"] == 4 and first["id"]
    assert json.loads(mooring.run("apps", "--json", check=True).stdout)[0]["down"] is False
