"""Supervision through the engine: restarts with backoff, kill after stop_timeout, OOM, adoption, health."""

from __future__ import annotations

import itertools
import os
import signal
import time
from datetime import datetime

import psutil
import pytest

from tests.engine.conftest import Mooring, free_port, wait_until


def instance(mooring: Mooring, app: str, service: str) -> dict:
    rows = [r for r in mooring.ps(app) if r["service"] == service]
    assert len(rows) == 1, rows
    return rows[0]


def test_crashing_service_restarts_with_backoff_then_gives_up(mooring: Mooring) -> None:
    mooring.write(
        "mooring.toml",
        """
[app]
name = "crashy"
[service.boom]
command = "echo starting; exit 3"
restart = "on-failure"
max_restarts = 2
[service.boom.rollout]
health_check_timeout = "0s"
""",
    )
    mooring.run("up")
    row = wait_until(
        lambda: (r := instance(mooring, "crashy", "boom"))["state"] == "failed" and r,
        timeout=30,
        what="the service to give up",
    )
    assert row["restarts"] == 2
    assert row["exit_code"] == 3
    assert "3" in (row["last_error"] or "")
    logs = mooring.run("logs", "boom", check=True).stdout
    starts = [
        datetime.fromisoformat(line.split()[2].replace("Z", "+00:00"))
        for line in logs.splitlines()
        if " stdout starting" in line
    ]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(starts)]
    assert len(gaps) == 2 and gaps[0] >= 1.0 and gaps[1] >= 2.0, f"backoff 1s then 2s, got {gaps}"
    assert logs.count("stdout starting") == 3


def test_service_ignoring_sigterm_is_killed_after_stop_timeout_with_children(mooring: Mooring) -> None:
    mooring.write(
        "mooring.toml",
        """
[app]
name = "stubborn"
[service.hold]
command = "trap '' TERM; sleep 1000 & setsid sleep 1001 & while true; do sleep 1; done"
stop_timeout = "1s"
""",
    )
    mooring.run("up", check=True)
    row = instance(mooring, "stubborn", "hold")
    leader = psutil.Process(row["pid"])
    tree = wait_until(lambda: len(kids := leader.children(recursive=True)) >= 2 and kids, what="the children")
    setsid_child = [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", "1001"]]
    pids = [leader.pid, *(p.pid for p in tree), *(p.pid for p in setsid_child)]
    started = time.monotonic()
    mooring.run("down", "--app", "stubborn", check=True)
    assert time.monotonic() - started >= 1.0
    for pid in pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, pid


def test_memory_limit_enforced_and_reported_oom_killed(mooring: Mooring) -> None:
    mooring.write(
        "mooring.toml",
        """
[app]
name = "hungry"
[service.eat]
command = ["python3", "-c", "import time; x = bytearray(300 * 1024 * 1024); time.sleep(60)"]
restart = "no"
resources = { memory = "64MiB" }
[service.eat.rollout]
health_check_timeout = "0s"
""",
    )
    mooring.run("up")
    row = wait_until(
        lambda: (r := instance(mooring, "hungry", "eat"))["state"] in ("exited", "failed") and r,
        timeout=30,
        what="the instance to be OOM-killed",
    )
    assert "oom" in (row["last_error"] or "").lower()
    assert row["limits"] is None, "limits were applied on this host"


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
def test_engine_exit_leaves_instances_and_new_engine_adopts(mooring: Mooring, how: signal.Signals) -> None:
    port = free_port()
    mooring.write(
        "mooring.toml",
        f"""
[app]
name = "survivor"
[service.web]
command = "exec python3 -m http.server --bind 127.0.0.1 $PORT"
ports = ["{port}"]
health_check = {{ type = "tcp", interval = "500ms" }}
""",
    )
    mooring.run("up", check=True)
    before = instance(mooring, "survivor", "web")
    engine = mooring.engine_pid()
    assert engine
    os.kill(engine, how)
    wait_until(
        lambda: not psutil.pid_exists(engine) or psutil.Process(engine).status() == psutil.STATUS_ZOMBIE,
        what="the engine to die",
    )
    assert psutil.pid_exists(before["pid"]), "the instance outlives the engine"

    after = instance(mooring, "survivor", "web")  # starts a new engine, which adopts
    assert mooring.engine_pid() not in (None, engine)
    assert (after["id"], after["pid"], after["state"]) == (before["id"], before["pid"], "running")
    wait_until(
        lambda: instance(mooring, "survivor", "web")["health"] == "healthy", what="health after adoption"
    )

    mooring.run("down", "--app", "survivor", check=True)
    assert (
        not psutil.pid_exists(before["pid"]) or psutil.Process(before["pid"]).status() == psutil.STATUS_ZOMBIE
    )


def test_health_follows_the_target(mooring: Mooring) -> None:
    port = free_port()
    flag = mooring.cwd / "sick"
    mooring.write(
        "server.py",
        f"""
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(503 if os.path.exists({str(flag)!r}) else 200)
        self.end_headers()
    def log_message(self, *a):
        pass
ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
""",
    )
    mooring.write(
        "mooring.toml",
        f"""
[app]
name = "flappy"
[service.web]
command = ["python3", "server.py"]
ports = ["{port}:{port}"]
[service.web.health_check]
type = "http"
interval = "200ms"
retries = 2
""",
    )
    mooring.run("up", check=True)
    assert instance(mooring, "flappy", "web")["health"] == "healthy"
    flag.touch()
    wait_until(lambda: instance(mooring, "flappy", "web")["health"] == "unhealthy", what="unhealthy")
    flag.unlink()
    wait_until(lambda: instance(mooring, "flappy", "web")["health"] == "healthy", what="healthy again")


def test_failed_readiness_pauses_the_release_and_names_the_reason(mooring: Mooring) -> None:
    mooring.write(
        "mooring.toml",
        """
[app]
name = "never"
[service.web]
command = "sleep 1000"
ports = ["9"]
[service.web.health_check]
type = "tcp"
interval = "200ms"
[service.web.rollout]
health_check_timeout = "1s"
""",
    )
    result = mooring.run("up")
    assert result.returncode == 7, result.stdout  # failure_action "pause": the release waits, blocked
    assert "readiness_failed" in result.stdout and "connection refused" in result.stdout
