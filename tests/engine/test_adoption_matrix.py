"""Every instance is adopted after an engine kill -9, whatever its health check or kind.

An exec-checked instance once went unpersisted (its probe's env could not be serialised): after an
engine restart it kept running unmanaged, missing from ``ps``, and ``down`` reported success while it
ran. This matrix kills the engine with one service per probe kind (and one without a check) plus a
cron run in flight, and checks that a new engine adopts every one and that ``down`` stops them all.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import psutil

from tests.engine.conftest import Mooring, wait_until

PROBE_KINDS = ("http", "tcp", "exec", "grpc", "none")

SERVER = """
import os, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

kind = sys.argv[1]
port = int(os.environ["PORT"])
print(f"{kind} up on {port}", flush=True)
if kind == "grpc":
    import grpc
    from concurrent import futures
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    server.wait_for_termination()
else:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
        def log_message(self, *args):
            pass
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""


def _check(kind: str) -> str:
    # start_period: a slow start on a loaded machine (python importing grpc) is not judged unhealthy
    timing = 'interval = "200ms", timeout = "1s", retries = 2, start_period = "20s"'
    if kind == "http":
        return f'health_check = {{ type = "http", path = "/", {timing} }}'
    if kind == "tcp":
        return f'health_check = {{ type = "tcp", {timing} }}'
    if kind == "grpc":
        return f'health_check = {{ type = "grpc", {timing} }}'
    if kind == "exec":
        # The env of an exec check is what once failed to persist: give it one.
        return (
            f'health_check = {{ type = "exec", command = ["sh", "-c", "test -n \\"$CHECK_ME\\""], {timing} }}\n'
            'env = { CHECK_ME = "yes" }'
        )
    return ""


def manifest() -> str:
    parts = ['[app]\nname = "matrix"\n']
    for kind in PROBE_KINDS:
        parts.append(
            f"[service.svc-{kind}]\n"
            f'command = ["{sys.executable}", "server.py", "{kind}"]\n'
            'ports = ["9000"]\n'
            f"{_check(kind)}\n"
            'rollout = { health_check_timeout = "30s" }\n'
        )
    # A cron whose run is still going when the engine dies: it must be adopted too.
    parts.append('[cron.tick]\ncommand = ["sleep", "300"]\nevery = "1s"\n')
    # And a worker run started by hand (`run-worker`) that outlives the engine.
    parts.append('[worker.long]\ncommand = ["sleep", "301"]\n')
    return "\n".join(parts)


def app_processes(mooring: Mooring) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline", "environ"]):
        try:
            env = proc.info["environ"] or {}
            cmd = " ".join(proc.info["cmdline"] or [])
        except psutil.Error:
            continue
        if env.get("MOORING_APP") == "matrix" and ("server.py" in cmd or cmd.startswith("sleep 30")):
            found.append(proc)
    return found


def test_every_probe_kind_a_cron_and_a_worker_run_are_adopted_after_kill_9(mooring: Mooring) -> None:
    mooring.write("server.py", SERVER)
    mooring.write("mooring.toml", manifest())
    mooring.run("up", "--json", check=True)
    worker = subprocess.Popen(
        [sys.executable, "-m", "mooring", "run-worker", "long", "--app", "matrix"],
        env=mooring.env,
        cwd=mooring.cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _kill_and_adopt(mooring)
    finally:
        worker.kill()
        worker.wait()


def _kill_and_adopt(mooring: Mooring) -> None:
    wait_until(
        lambda: {"tick", "long"} <= {r["service"] for r in mooring.ps("matrix")},
        timeout=30,
        what="a cron run and a worker run",
    )
    before = {r["id"]: r["pid"] for r in mooring.ps("matrix") if r["pid"]}
    services = {r.split("-")[0] + "-" + r.split("-")[1] for r in before if r.startswith("svc-")}
    assert services == {f"svc-{k}" for k in PROBE_KINDS}, before
    assert any(name.startswith("tick") for name in before), before
    assert any(name.startswith("long") for name in before), before
    running = {p.pid for p in app_processes(mooring)}

    os.kill(mooring.engine_pid() or 0, signal.SIGKILL)
    wait_until(lambda: mooring.engine_pid() is None, what="the engine to die")
    assert running <= {p.pid for p in app_processes(mooring)}, "instances died with the engine"

    after = wait_until(
        lambda: (rows := mooring.ps("matrix")) and {r["id"]: r["pid"] for r in rows if r["pid"]},
        what="the new engine to list instances",
    )
    for instance, pid in before.items():
        assert after.get(instance) == pid, f"{instance} (pid {pid}) was not adopted: {after}"
    rows = {r["id"]: r for r in mooring.ps("matrix")}
    for kind in PROBE_KINDS:
        row = next(r for name, r in rows.items() if name.startswith(f"svc-{kind}-"))
        assert row["state"] == "running", row
        if kind != "none":
            wait_until(
                lambda k=kind: (
                    next(r for r in mooring.ps("matrix") if r["id"].startswith(f"svc-{k}-"))["health"]
                    == "healthy"
                ),
                what=f"svc-{kind} healthy again after adoption",
            )

    result = mooring.run("down", "--app", "matrix", check=True)
    assert f"stopped {len(before)} instances" in result.stdout, result.stdout
    wait_until(lambda: not app_processes(mooring), what="down to stop every instance, cron run included")


def test_down_fails_naming_an_instance_the_engine_lost(mooring: Mooring) -> None:
    """An instance still running but unknown to the engine (its record lost) makes ``down`` fail."""
    import sqlite3

    from mooring.store.db import STATE_DB_NAME

    mooring.write("server.py", SERVER)
    mooring.write(
        "mooring.toml",
        f'[app]\nname = "matrix"\n[service.lost]\ncommand = ["{sys.executable}", "server.py", "tcp"]\n'
        'ports = ["9000"]\n',
    )
    mooring.run("up", "--json", check=True)
    (row,) = mooring.ps("matrix")
    os.kill(mooring.engine_pid() or 0, signal.SIGKILL)
    wait_until(lambda: mooring.engine_pid() is None, what="the engine to die")
    with sqlite3.connect(mooring.home / STATE_DB_NAME) as db:  # as if it had never been journaled
        db.execute("DELETE FROM instances WHERE id = ?", (row["id"],))
    try:
        assert mooring.ps("matrix") == []
        result = mooring.run("down", "--app", "matrix")
        assert result.returncode == 1, result.stdout + result.stderr
        assert f"{row['id']} (lost, pid {row['pid']})" in result.stderr, result.stderr
        assert "still running after down" in result.stderr
        as_json = json.loads(mooring.run("down", "--app", "matrix", "--json").stdout)
        assert [s["instance_id"] for s in as_json["survivors"]] == [row["id"]]
    finally:
        os.killpg(row["pid"], signal.SIGKILL)
    wait_until(lambda: mooring.run("down", "--app", "matrix").returncode == 0, what="down to succeed")
