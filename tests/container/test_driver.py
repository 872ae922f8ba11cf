"""Container instances beyond releases: logs from the engine, exec checks inside, restarts, doctor."""

from __future__ import annotations

import json
import select
import subprocess
import sys
import time

from tests.container.kit import up
from tests.container.private_dockerd import PrivateDockerd
from tests.engine.conftest import Mooring, wait_until


def service(command: str, extra: str = "") -> str:
    return f"""
[app]
name = "box"

[service.web]
image = "mooring-test/web:1"
command = {command}
ports = ["8080"]
stop_timeout = "3s"
{extra}
"""


def test_logs_come_from_the_engine_with_their_stream(cmooring: Mooring) -> None:
    command = (
        """["/bin/sh", "-c", "echo to-stdout; echo to-stderr >&2; exec /bin/httpd -f -p 8080 -h /www"]"""
    )
    cmooring.write("mooring.toml", service(command))
    code, rel = up(cmooring)
    assert code == 0, rel

    def both() -> str | None:
        out = cmooring.run("logs", "web", check=True).stdout
        return out if "to-stdout" in out and "to-stderr" in out else None

    out = wait_until(both, what="both lines in `mooring logs web`")
    lines = out.splitlines()
    assert any(line.endswith("stdout to-stdout") and line.startswith("web-1 | 20") for line in lines), out
    assert any(line.endswith("stderr to-stderr") for line in lines), out


def test_exec_check_runs_inside_the_container(cmooring: Mooring) -> None:
    # /www/health exists only inside the image: on the host this check would fail
    check = (
        'health_check = { type = "exec", command = ["/bin/test", "-f", "/www/health"], interval = "200ms" }'
    )
    cmooring.write("mooring.toml", service('["/bin/httpd", "-f", "-p", "8080", "-h", "/www"]', check))
    code, rel = up(cmooring)
    assert code == 0, rel
    assert wait_until(lambda: cmooring.ps("box")[0]["health"] == "healthy", what="a healthy exec check")


def test_crashing_container_is_restarted_then_given_up(cmooring: Mooring) -> None:
    policy = 'restart = "on-failure"\nmax_restarts = 1'
    cmooring.write("mooring.toml", service("""["/bin/sh", "-c", "sleep 0.3; echo boom; exit 3"]""", policy))
    up(cmooring)
    row = wait_until(
        lambda: next((r for r in cmooring.ps("box") if r["state"] == "failed"), None),
        timeout=30,
        what="the crashing instance to be given up",
    )
    assert row["restarts"] == 1
    assert "exited with code 3" in row["last_error"], row


def test_doctor_reports_the_engine_and_where_its_address_came_from(
    cmooring: Mooring, dockerd: PrivateDockerd
) -> None:
    result = cmooring.run("doctor", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["reachable"] is True
    assert report["address"] == dockerd.url and report["address_source"] == "DOCKER_HOST"
    assert report["engine"]["version"].startswith("20.10")
    assert report["cgroup"]["version"] in (1, 2) and report["runc"]["version"]

    # [engine] docker_host of $MOORING_HOME/engine.toml, when DOCKER_HOST is not set
    cmooring.home.mkdir(parents=True, exist_ok=True)
    (cmooring.home / "engine.toml").write_text(f'[engine]\ndocker_host = "{dockerd.url}"\n')
    del cmooring.env["DOCKER_HOST"]
    report = json.loads(cmooring.run("doctor", "--json").stdout)
    assert report["reachable"] is True and report["address_source"].endswith(
        "engine.toml [engine] docker_host"
    )

    (cmooring.home / "engine.toml").write_text('[engine]\ndocker_host = "unix:///nonexistent/docker.sock"\n')
    result = cmooring.run("doctor")
    assert result.returncode == 1
    assert "NOT reachable" in result.stdout and "/nonexistent/docker.sock" in result.stdout
    cmooring.env["DOCKER_HOST"] = dockerd.url


def test_worker_with_an_image_runs_before_its_service_and_its_failure_fails_the_target(
    cmooring: Mooring, dockerd: PrivateDockerd
) -> None:
    def app(exit_code: int) -> str:
        return f"""
[app]
name = "box"

[worker.migrate]
image = "mooring-test/web:1"
command = ["/bin/sh", "-c", "echo migrating; exit {exit_code}"]

[service.web]
image = "mooring-test/web:1"
command = ["/bin/httpd", "-f", "-p", "8080", "-h", "/www"]
ports = ["8080"]
depends_on = ["migrate"]
env = {{ V = "{exit_code}" }}
"""

    cmooring.write("mooring.toml", app(0))
    code, rel = up(cmooring)
    assert code == 0, rel
    assert [r["service"] for r in cmooring.ps("box")] == ["web"]  # the worker's container is gone
    cmooring.write("mooring.toml", app(4))  # web changes too (its env), so the worker runs again
    code, rel = up(cmooring)
    assert code != 0
    failed = rel["targets"][0]
    assert failed["state"] == "failed" and failed["reason"] == "start_failed"
    assert "worker migrate failed" in failed["detail"] and "code 4" in failed["detail"], failed
    rows = dockerd.client().containers(all=True, filters={"label": f"mooring.home={cmooring.home}"})
    assert [r["Labels"]["mooring.service"] for r in rows] == ["web"]


def test_logs_follow_streams_new_lines_of_a_container(cmooring: Mooring) -> None:
    command = """["/bin/sh", "-c", "i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.2; done"]"""
    cmooring.write("mooring.toml", service(command))
    code, rel = up(cmooring)
    assert code == 0, rel
    follower = subprocess.Popen(
        [sys.executable, "-m", "mooring", "logs", "--follow", "--tail", "1", "web"],
        cwd=cmooring.cwd,
        env=cmooring.env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert follower.stdout is not None
        seen: list[str] = []
        deadline = time.monotonic() + 30
        while len(seen) < 4 and time.monotonic() < deadline:
            # a deadline on every read: a silent follower fails the test instead of hanging it
            if not select.select([follower.stdout], [], [], max(0.0, deadline - time.monotonic()))[0]:
                break
            line = follower.stdout.readline()
            if not line:
                break
            seen.append(line.strip())
        assert len(seen) >= 4, seen
        ticks = [int(line.rsplit("tick-", 1)[1]) for line in seen]
        assert ticks == sorted(ticks) and len(set(ticks)) == len(ticks), seen  # new lines, in order, once
        assert all(line.startswith("web-1 | ") and " stdout tick-" in line for line in seen), seen
    finally:
        follower.kill()
        follower.wait(10)
