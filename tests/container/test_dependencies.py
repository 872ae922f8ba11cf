"""A container finds its dependencies: MOORING_<DEP>_ADDR reaches the dependency's published port."""

from __future__ import annotations

from tests.container.kit import up
from tests.container.private_dockerd import PrivateDockerd
from tests.engine.conftest import Mooring, free_port, wait_until


def manifest(port_entry: str, site: str) -> str:
    return f"""
[app]
name = "deps"

[service.api]
command = "python3 -m http.server $$PORT --bind 127.0.0.1 --directory {site}"
ports = ["{port_entry}"]
health_check = {{ type = "http", port = 8000, path = "/", interval = "200ms", timeout = "1s", retries = 2 }}

[service.caller]
image = "mooring-test/web:1"
depends_on = ["api"]
command = ["sh", "-c", "echo addr=$${{MOORING_API_ADDR:-unset}}; while true; do wget -qO- http://$$MOORING_API_ADDR/ && echo; sleep 0.5; done"]
"""


def test_a_container_reaches_its_dependency_through_the_published_port(
    cmooring: Mooring, dockerd: PrivateDockerd
) -> None:
    site = cmooring.cwd / "site"
    site.mkdir()
    (site / "index.html").write_text("hello from api")
    port = free_port()
    cmooring.write(
        "mooring.toml", manifest(f"{port}:8000", str(site))
    )  # every address: the bridge reaches it
    code, rel = up(cmooring)
    assert code == 0, rel

    def caller_log() -> str:
        return cmooring.run("logs", "caller", "--app", "deps", "--tail", "50").stdout

    text = wait_until(lambda: "hello from api" in (t := caller_log()) and t, what="the container's answer")
    assert f"addr=host.docker.internal:{port}" in text, text
    hosts = dockerd.client().inspect_container(
        next(r for r in dockerd.client().containers(filters={"label": "mooring.service=caller"}))["Id"]
    )["HostConfig"]["ExtraHosts"]
    assert hosts == ["host.docker.internal:host-gateway"]


def test_a_dependency_published_on_loopback_only_is_a_warning_and_no_address(
    cmooring: Mooring, dockerd: PrivateDockerd
) -> None:
    site = cmooring.cwd / "site"
    site.mkdir()
    (site / "index.html").write_text("hello from api")
    port = free_port()
    cmooring.write("mooring.toml", manifest(f"127.0.0.1:{port}:8000", str(site)))
    validated = cmooring.run("validate")
    assert validated.returncode == 0
    warning = (
        f"service.caller.depends_on: api is published on 127.0.0.1:{port}:8000, a loopback address a "
        "container cannot reach; MOORING_API_ADDR is not set inside caller's containers"
    )
    assert warning in " ".join(validated.stderr.split()), validated.stderr
    result = cmooring.run("up")
    assert "MOORING_API_ADDR is not set" in " ".join(result.stderr.split()), result.stderr
    assert result.returncode == 0, result.stdout + result.stderr
    text = wait_until(
        lambda: "addr=unset" in (t := cmooring.run("logs", "caller", "--app", "deps").stdout) and t,
        what="the container to report its address",
    )
    assert "hello from api" not in text
