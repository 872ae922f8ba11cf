"""Helpers for release scenarios: a versioned app, the engine's view of a release, what instances serve."""

from __future__ import annotations

import json
import shutil
import urllib.request
from pathlib import Path
from typing import Any

from tests.engine.conftest import Mooring

APP_SCRIPT = Path(__file__).parent / "apps" / "versioned.py"


def manifest(
    replicas: int = 4,
    parallelism: int = 2,
    strategy: str = "rolling",
    failure_action: str = "pause",
    timeout: str = "10s",
    extra_service: str = "",
    min_ready: str = "0s",
    order: str = "start_first",
    max_failure_ratio: float = 0.0,
    delay: str = "0s",
    start_period: str = "0s",
) -> str:
    return f"""
[app]
name = "rel"

[service.web]
command = ["python3", "versioned.py"]
ports = ["8000"]
replicas = {replicas}
env = {{ V = "${{V:-1}}", BEHAVIOR = "${{BEHAVIOR:-ok}}", FAIL_REPLICAS = "${{FAIL_REPLICAS:-}}", FAIL_FLAG = "${{FAIL_FLAG:-}}" }}
restart = "on-failure"
max_restarts = 1

[service.web.health_check]
type = "http"
path = "/health"
interval = "200ms"
timeout = "200ms"
retries = 2
start_period = "{start_period}"

[service.web.rollout]
strategy = "{strategy}"
parallelism = {parallelism}
failure_action = "{failure_action}"
health_check_timeout = "{timeout}"
min_ready = "{min_ready}"
order = "{order}"
max_failure_ratio = {max_failure_ratio}
delay_between_batches = "{delay}"
{extra_service}
"""


def setup(mooring: Mooring, text: str) -> None:
    shutil.copy(APP_SCRIPT, mooring.cwd / "versioned.py")
    mooring.write("mooring.toml", text)


def up(mooring: Mooring, *args: str, **env: str) -> tuple[int, dict[str, Any]]:
    """Run `mooring up --json` with these variables; the exit code and the final release."""
    saved = dict(mooring.env)
    mooring.env.update(env)
    for key in ("V", "BEHAVIOR", "FAIL_REPLICAS", "FAIL_FLAG"):
        if key not in env:
            mooring.env.pop(key, None)
    try:
        result = mooring.run("up", "--json", *args)
    finally:
        mooring.env.clear()
        mooring.env.update(saved)
    try:
        body = json.loads(result.stdout)
    except json.JSONDecodeError:
        raise AssertionError(
            f"up printed no JSON (exit {result.returncode}):\n{result.stdout}\n{result.stderr}"
        ) from None
    return result.returncode, body


def release(mooring: Mooring, release_id: str) -> dict[str, Any]:
    result: dict[str, Any] = _get(mooring, f"/v1/releases/{release_id}")
    return result


def _get(mooring: Mooring, path: str) -> Any:
    import httpx

    transport = httpx.HTTPTransport(uds=str(mooring.home / "engine.sock"))
    with httpx.Client(transport=transport, base_url="http://mooring", timeout=60) as client:
        return client.get(path).json()


def events(mooring: Mooring, release_id: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = _get(mooring, f"/v1/releases/{release_id}/events")
    return result


def states(rel: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    """Target -> (state, reason); also checks the release's counters agree with its targets."""
    found = [t["state"] for t in rel["targets"]]
    assert rel["rollout"]["targets"] == {
        "total": len(found),
        "ready": found.count("ready"),
        "failed": found.count("failed"),
        "unchanged": found.count("skipped"),
        "removed": found.count("removed"),
        "left": found.count("pending") + found.count("starting"),
        "rolled_back": found.count("rolled_back"),  # so the counts add up to the total
    }, rel["rollout"]["targets"]
    return {t["target"]: (t["state"], t["reason"]) for t in rel["targets"]}


def served_versions(mooring: Mooring, service: str = "web") -> dict[int, str]:
    """Replica -> the version its running instance answers on GET /."""
    out = {}
    for row in mooring.ps("rel"):
        if row["service"] != service or row["state"] != "running":
            continue
        port = next(iter(row["ports"].values()))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as reply:
            out[row["replica"]] = reply.read().decode()
    return out
