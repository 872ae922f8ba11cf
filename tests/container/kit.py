"""Helpers for container scenarios: a versioned busybox web app and what its instances serve."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from tests.engine.conftest import Mooring


def manifest(
    image: str = "mooring-test/web:1",
    replicas: int = 3,
    parallelism: int = 1,
    failure_action: str = "pause",
    health_path: str = "/health",
    timeout: str = "15s",
    order: str = "start_first",
    extra: str = "",
    sections: str = "",
) -> str:
    return f"""
[app]
name = "box"

[service.web]
image = "{image}"
command = ["/bin/httpd", "-f", "-p", "8080", "-h", "/www"]
ports = ["8080"]
replicas = {replicas}
restart = "on-failure"
max_restarts = 1
stop_timeout = "5s"
{extra}

[service.web.health_check]
type = "http"
port = 8080
path = "{health_path}"
interval = "200ms"
timeout = "1s"
retries = 2

[service.web.rollout]
parallelism = {parallelism}
failure_action = "{failure_action}"
health_check_timeout = "{timeout}"
order = "{order}"

{sections}
"""


def up(mooring: Mooring, *args: str) -> tuple[int, dict[str, Any]]:
    """`mooring up --json`: the exit code and the final release."""
    result = mooring.run("up", "--json", *args)
    try:
        return result.returncode, json.loads(result.stdout)
    except json.JSONDecodeError:
        raise AssertionError(
            f"up printed no JSON (exit {result.returncode}):\n{result.stdout}\n{result.stderr}"
        ) from None


def target_states(rel: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    return {t["target"]: (t["state"], t["reason"]) for t in rel["targets"]}


def served(mooring: Mooring, app: str = "box") -> dict[int, str]:
    """Replica -> the page its running instance serves on its published 127.0.0.1 port."""
    out = {}
    for row in mooring.ps(app):
        if row["state"] != "running":
            continue
        port = row["ports"]["8080"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as reply:
            out[row["replica"]] = reply.read().decode()
    return out
