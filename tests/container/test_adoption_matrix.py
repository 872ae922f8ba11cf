"""Every container instance is adopted after an engine kill -9, whatever its health check or kind.

The process matrix (tests/engine/test_adoption_matrix.py) has the same shape: one service per probe
kind (and one without a check), a cron run and a worker run in flight when the engine dies. A new
engine must list every one with the same container, probe the services healthy again, and ``down``
must stop all of them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from tests.container.private_dockerd import PrivateDockerd
from tests.engine.conftest import Mooring, wait_until

PROBE_KINDS = ("http", "tcp", "exec", "none")
HTTPD = '["/bin/httpd", "-f", "-p", "8080", "-h", "/www"]'


def _check(kind: str) -> str:
    timing = 'interval = "200ms", timeout = "2s", retries = 2, start_period = "20s"'
    if kind == "http":
        return f'health_check = {{ type = "http", path = "/health", {timing} }}'
    if kind == "tcp":
        # and it runs as another user: docker's user and group_add (no passwd in the image: ids)
        return f'health_check = {{ type = "tcp", {timing} }}\nuser = "1000"\ngroup = "1000"\ngroups = ["50"]'
    if kind == "exec":
        # runs inside the container with the container's env: the variable must reach it
        return (
            f'health_check = {{ type = "exec", command = ["sh", "-c", "test -n \\"$CHECK_ME\\""], {timing} }}\n'
            'env = { CHECK_ME = "yes" }'
        )
    return ""


def manifest() -> str:
    parts = ['[app]\nname = "cmatrix"\n']
    for kind in PROBE_KINDS:
        parts.append(
            f"[service.svc-{kind}]\n"
            'image = "mooring-test/web:1"\n'
            f"command = {HTTPD}\n"
            'ports = ["8080"]\n'
            'stop_timeout = "2s"\n'
            f"{_check(kind)}\n"
            'rollout = { health_check_timeout = "30s" }\n'
        )
    parts.append('[cron.tick]\nimage = "mooring-test/web:1"\ncommand = ["sleep", "300"]\nevery = "1s"\n')
    parts.append('[worker.long]\nimage = "mooring-test/web:1"\ncommand = ["sleep", "300"]\n')
    return "\n".join(parts)


def containers(dockerd: PrivateDockerd, mooring: Mooring) -> dict[str, str]:
    """Running containers of this engine: instance id -> container id."""
    client = dockerd.client()
    rows = client.containers(filters={"label": f"mooring.home={mooring.home}"})
    return {row["Labels"]["mooring.instance"]: row["Id"] for row in rows}


def test_every_probe_kind_a_cron_and_a_worker_run_are_adopted_after_kill_9(
    cmooring: Mooring, dockerd: PrivateDockerd
) -> None:
    cmooring.write("mooring.toml", manifest())
    cmooring.run("up", "--json", check=True)
    worker = subprocess.Popen(
        [sys.executable, "-m", "mooring", "run-worker", "long", "--app", "cmatrix"],
        env=cmooring.env,
        cwd=cmooring.cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(
            lambda: (
                {"tick", "long"} <= {r["service"] for r in cmooring.ps("cmatrix") if r["state"] == "running"}
            ),
            timeout=60,
            what="a cron run and a worker run",
        )
        before = {r["id"]: r for r in cmooring.ps("cmatrix") if r["state"] == "running"}
        running = containers(dockerd, cmooring)
        assert set(before) <= set(running), (before, running)
        tcp = next(cid for iid, cid in running.items() if iid.startswith("svc-tcp-"))
        inspected = dockerd.client().inspect_container(tcp)
        assert inspected["Config"]["User"] == "1000:1000"
        assert inspected["HostConfig"]["GroupAdd"] == ["50"]

        os.kill(cmooring.engine_pid() or 0, signal.SIGKILL)
        wait_until(lambda: cmooring.engine_pid() is None, what="the engine to die")
        assert containers(dockerd, cmooring) == running, "containers died with the engine"

        after = {r["id"]: r for r in cmooring.ps("cmatrix")}
        for instance in before:
            assert instance in after, f"{instance} was not adopted: {sorted(after)}"
            assert after[instance]["state"] == "running", after[instance]
        assert containers(dockerd, cmooring) == running, "adoption replaced containers"
        for kind in PROBE_KINDS[:-1]:
            wait_until(
                lambda k=kind: any(
                    r["id"].startswith(f"svc-{k}-") and r["health"] == "healthy"
                    for r in cmooring.ps("cmatrix")
                ),
                what=f"svc-{kind} healthy again after adoption",
            )

        down = cmooring.run("down", "--app", "cmatrix")
        assert down.returncode == 0, down.stdout + down.stderr
        assert f"stopped {len(running)} instances" in down.stdout, down.stdout
        assert containers(dockerd, cmooring) == {}
    finally:
        worker.kill()
        worker.wait()
