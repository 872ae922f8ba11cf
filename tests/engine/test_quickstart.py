"""up / ps / logs / down on the quickstart app, through the CLI and a real engine."""

from __future__ import annotations

import os
import shutil
import urllib.request

import psutil

from tests.conftest import REPO
from tests.engine.conftest import Mooring, free_port, wait_until


def fetch(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as reply:
        return reply.read().decode()


def test_up_ps_logs_down(mooring: Mooring) -> None:
    shutil.copytree(REPO / "examples/quickstart", mooring.cwd, dirs_exist_ok=True)
    api_port, web_port = free_port(), free_port()
    mooring.env.update(API_PORT=str(api_port), WEB_PORT=str(web_port), GREETING="hi from the test")

    up = mooring.run("up", check=True)
    assert "completed: apply completed (2 ready, 0 failed, 0 unchanged)" in up.stdout
    assert "started the mooring engine" in up.stderr and "engine.log" in up.stderr
    assert (mooring.home / "engine.sock").stat().st_mode & 0o777 == 0o600

    rows = mooring.ps("quickstart")
    assert [(r["service"], r["state"], r["health"]) for r in rows] == [
        ("api", "running", "healthy"),
        ("web", "running", "healthy"),
    ]
    assert "hi from the test" in fetch(web_port)

    again = mooring.run("up", check=True)
    assert again.stdout.startswith("nothing to do: release "), again.stdout
    assert [r["pid"] for r in mooring.ps("quickstart")] == [r["pid"] for r in rows]

    text = mooring.run("ps", check=True).stdout
    assert text.splitlines()[0].split()[:7] == [
        "INSTANCE",
        "APP",
        "SERVICE",
        "REPLICA",
        "DRIVER",
        "STATE",
        "HEALTH",
    ]

    logs = wait_until(
        lambda: (out := mooring.run("logs", "--tail", "20").stdout) and "GET / " in out and out,
        what="the api's access log line",
    )
    assert "api-1 | " in logs and "web-1 | " in logs
    only_api = mooring.run("logs", "api", check=True).stdout
    assert only_api and all(line.startswith("api-1 | ") for line in only_api.splitlines())

    pids = [r["pid"] for r in rows]
    down = mooring.run("down", check=True)
    assert "stopped 2 instances" in down.stdout
    assert mooring.ps("quickstart") == []
    for pid in pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_engine_started_once_by_concurrent_clients(mooring: Mooring) -> None:
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: mooring.run("ps", "--json"), range(4)))
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    engines = [
        p
        for p in psutil.process_iter(["cmdline", "environ"])
        if "serve" in (p.info["cmdline"] or [])
        and (p.info["environ"] or {}).get("MOORING_HOME") == str(mooring.home)
    ]
    assert len(engines) == 1
    assert sum("started the mooring engine" in r.stderr for r in results) == 1
    assert os.path.exists(mooring.home / "engine.log")
