"""A Flask app under gunicorn as a process service: a roll, an engine kill, and a broken release
rolled back whose traceback ``mooring logs`` and ``status --explain`` both print."""

from __future__ import annotations

import json
import sys
import urllib.request

from tests.engine.conftest import Mooring, free_port
from tests.workloads.conftest import kill_engine_and_adopt, running, up

APP = """
import os
from flask import Flask

if os.environ.get("BROKEN"):
    raise RuntimeError("boom: this release cannot start")

app = Flask(__name__)

@app.get("/")
def index():
    return os.environ["VERSION"] + "\\n"

@app.get("/health")
def health():
    return "ok\\n"
"""


def manifest(host_port: int, version: str, broken: bool = False) -> str:
    env = f'VERSION = "{version}"' + (', BROKEN = "1"' if broken else "")
    return f"""
[app]
name = "flask"

[service.api]
command = ["{sys.executable}", "-m", "gunicorn", "--bind", "127.0.0.1:$${{PORT}}", "--workers", "2", "app:app"]
env = {{ {env} }}
ports = ["127.0.0.1:{host_port}:8000"]
replicas = 2
restart = "on-failure"
max_restarts = 0
health_check = {{ type = "http", path = "/health", interval = "200ms", timeout = "1s", retries = 2, start_period = "15s" }}
rollout = {{ health_check_timeout = "20s", failure_action = "rollback" }}
"""


def page(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as reply:
        return str(reply.read().decode()).strip()


def test_gunicorn_rolls_survives_an_engine_kill_and_shows_a_rolled_back_traceback(wmooring: Mooring) -> None:
    host_port = free_port()
    wmooring.write("app.py", APP)
    wmooring.write("mooring.toml", manifest(host_port, "v1"))
    up(wmooring)
    assert page(host_port) == "v1"
    wmooring.write("mooring.toml", manifest(host_port, "v2"))
    up(wmooring)
    assert page(host_port) == "v2"
    kill_engine_and_adopt(wmooring, "flask")
    assert page(host_port) == "v2"

    wmooring.write("mooring.toml", manifest(host_port, "v3", broken=True))
    up(wmooring, code=5)  # rolled back: v2 serves again
    assert page(host_port) == "v2"
    history = json.loads(wmooring.run("history", "--app", "flask", "--json", check=True).stdout)
    broken_release = history[0]["id"]
    assert history[0]["status"] == "rolled_back", history[0]
    timeline = json.loads(
        wmooring.run("history", broken_release, "--app", "flask", "--json", check=True).stdout
    )
    failed = [e["instance_id"] for e in timeline if e["type"] == "target.failed"]
    assert failed, timeline

    # The failed instance is gone from `ps`, yet its output is still reachable, by id and by release.
    assert failed[0] not in running(wmooring, "flask")
    by_id = wmooring.run("logs", failed[0], "--app", "flask")
    assert by_id.returncode == 0, by_id.stdout + by_id.stderr
    assert "RuntimeError: boom: this release cannot start" in by_id.stdout
    assert "Traceback (most recent call last)" in by_id.stdout
    by_release = wmooring.run("logs", "--release", broken_release, "--app", "flask")
    assert "RuntimeError: boom" in by_release.stdout, by_release.stdout + by_release.stderr

    explain = wmooring.run("status", "--app", "flask", "--explain")  # the rolled-back release is the latest
    assert "RuntimeError: boom: this release cannot start" in explain.stdout, explain.stdout + explain.stderr
    wmooring.run("down", "--app", "flask", check=True)
