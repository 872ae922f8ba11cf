"""HTTP routes through the engine: apps sharing one listener by Host and path, a route claimed by two
apps refused before anything changes, and 0 failed requests under load (tests/engine/test_zero_downtime.py's
clients, with a Host header) across a rolling update, a route added for another app and an engine
kill -9; maintenance mode, which survives an engine restart."""

from __future__ import annotations

import http.client
import json
import shutil
import signal
import ssl
from pathlib import Path
from typing import Any

import pytest

from tests.engine.conftest import Mooring, free_port, haproxy_pid, wait_until
from tests.engine.releases_kit import _get
from tests.engine.test_edge_survival import answers_more, restart_engine
from tests.engine.test_zero_downtime import APP, assert_no_failures_and_switch, clients, stop
from tests.network.pebble_kit import pebble
from tests.network.test_tls import https_get, trusting


@pytest.fixture
def http_port(mooring: Mooring) -> int:
    port = free_port()
    mooring.env["MOORING_HTTP_LISTEN"] = f"127.0.0.1:{port}"  # the engine the CLI starts inherits it
    return port


def app_manifest(name: str, routes: str, replicas: int = 2, rollout: str = "") -> str:
    return f"""
[app]
name = "{name}"

[service.web]
command = ["python3", "keepalive.py"]
ports = ["8000"]
replicas = {replicas}
env = {{ V = "${{V:-1}}", BEHAVIOR = "${{BEHAVIOR:-ok}}" }}

[service.web.health_check]
type = "http"
path = "/health"
interval = "200ms"
timeout = "500ms"
retries = 2

[service.web.rollout]
health_check_timeout = "10s"
drain_timeout = "2s"
{rollout}
{routes}"""


def route(host: str, path: str = "/") -> str:
    return f'\n[[service.web.route]]\nhost = "{host}"\npath = "{path}"\n'


def write_app(mooring: Mooring, name: str, text: str) -> str:
    folder = mooring.cwd / name
    folder.mkdir(exist_ok=True)
    shutil.copy(APP, folder / "keepalive.py")
    (folder / "mooring.toml").write_text(text)
    return f"{name}/mooring.toml"


def up(mooring: Mooring, file: str, *args: str, **env: str) -> tuple[int, dict[str, Any], str]:
    saved = dict(mooring.env)
    mooring.env.update(env)
    try:
        result = mooring.run("up", "-f", file, "--json", *args)
    finally:
        mooring.env.clear()
        mooring.env.update(saved)
    body = json.loads(result.stdout) if result.stdout.strip().startswith("{") else {}
    return result.returncode, body, result.stderr


def fetch(port: int, host: str, path: str = "/") -> tuple[int, dict[str, str], str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": host})
        reply = conn.getresponse()
        return reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read().decode()
    finally:
        conn.close()


def test_two_apps_on_one_listener_by_host_and_by_path(mooring: Mooring, http_port: int) -> None:
    shop = write_app(mooring, "shop", app_manifest("shop", route("shop.example.com")))
    blog = write_app(
        mooring, "blog", app_manifest("blog", route("blog.example.com") + route("shop.example.com", "/blog"))
    )
    assert up(mooring, shop, V="shop")[0] == 0
    assert up(mooring, blog, V="blog")[0] == 0
    answers = {
        (host, path): fetch(http_port, host, path)
        for host, path in [
            ("shop.example.com", "/"),
            ("shop.example.com", "/cart"),
            ("shop.example.com", "/blog"),
            ("shop.example.com", "/blog/2026/post"),
            ("blog.example.com", "/"),
        ]
    }
    assert {k: (status, body) for k, (status, _, body) in answers.items()} == {
        ("shop.example.com", "/"): (200, "shop"),
        ("shop.example.com", "/cart"): (200, "shop"),
        ("shop.example.com", "/blog"): (200, "blog"),
        ("shop.example.com", "/blog/2026/post"): (200, "blog"),
        ("blog.example.com", "/"): (200, "blog"),
    }
    assert fetch(http_port, "nobody.example.com")[0] == 404
    routes = _get(mooring, "/v1/apps/blog/proxy")["services"][0]["routes"]
    assert [(r["host"], r["path"], r["port"]) for r in routes] == [
        ("blog.example.com", "/", 8000),
        ("shop.example.com", "/blog", 8000),
    ]
    assert _get(mooring, "/v1/edge")["listeners"] == [f"127.0.0.1:{http_port}"]
    assert routes[1]["counters"]["http_2xx"] >= 2 and routes[1]["counters"]["requests"] >= 2
    status = mooring.run("status", "--app", "blog", check=True).stdout
    table = status[status.index("routes:") :]
    assert "shop.example.com" in table and "/blog" in table and "web:8000" in table


def test_a_route_another_app_serves_is_refused_at_plan_and_up_naming_both(
    mooring: Mooring, http_port: int
) -> None:
    shop = write_app(mooring, "shop", app_manifest("shop", route("shop.example.com")))
    assert up(mooring, shop)[0] == 0
    blog = write_app(
        mooring, "blog", app_manifest("blog", route("www.example.com") + route("shop.example.com"))
    )
    for args in (("--dry-run",), ()):
        code, _, stderr = up(mooring, blog, *args)
        assert code == 2, stderr
        assert "app blog: service.web.route[1] (host shop.example.com, path /)" in stderr
        assert "already routed to app shop, service web" in stderr
    assert "blog" not in {a["app"] for a in _get(mooring, "/v1/apps")}  # nothing was recorded
    assert fetch(http_port, "www.example.com")[0] == 404
    assert fetch(http_port, "shop.example.com")[2] == "1"


def test_every_request_succeeds_through_a_route_across_update_new_route_and_engine_kill(
    mooring: Mooring, http_port: int
) -> None:
    shop = write_app(mooring, "shop", app_manifest("shop", route("shop.example.com"), replicas=3))
    assert up(mooring, shop, V="1")[0] == 0
    edge_pid = haproxy_pid(mooring.home)
    running = clients(http_port, host="shop.example.com")
    try:
        code, _, stderr = up(mooring, shop, V="2")  # rolling, one at a time, through the route
        assert code == 0, stderr
        wait_until(lambda: all(c.switched() for c in running), what="both clients to see only v2")
        blog = write_app(mooring, "blog", app_manifest("blog", route("blog.example.com"), replicas=1))
        assert up(mooring, blog, V="blog")[0] == 0  # a reload of the shared frontend
        assert fetch(http_port, "blog.example.com")[2] == "blog"
        answers_more(running)
        restart_engine(mooring, signal.SIGKILL)
        answers_more(running)  # no engine: HAProxy serves the routes on
        assert len(mooring.ps("shop")) == 3  # a new engine adopts them
        answers_more(running)
    finally:
        stop(running)
    assert_no_failures_and_switch(running)
    assert haproxy_pid(mooring.home) == edge_pid  # reloaded, adopted, never restarted
    svc = _get(mooring, "/v1/apps/shop/proxy")["services"][0]
    assert len(svc["instances"]) == 3 and all(i["serving"] for i in svc["instances"])
    assert svc["counters"]["connections"] > 100


def test_maintenance_answers_503_and_survives_an_engine_restart(mooring: Mooring, http_port: int) -> None:
    shop = write_app(mooring, "shop", app_manifest("shop", route("shop.example.com"), replicas=1))
    blog = write_app(mooring, "blog", app_manifest("blog", route("blog.example.com"), replicas=1))
    assert up(mooring, shop, V="shop")[0] == 0
    assert up(mooring, blog, V="blog")[0] == 0
    on = mooring.run("maintenance", "on", "--app", "shop", "--message", "Back at 10:00 UTC", check=True)
    assert "maintenance" in on.stdout
    for _ in range(2):
        status, headers, body = fetch(http_port, "shop.example.com", "/cart")
        assert status == 503 and headers["retry-after"] == "120" and "Back at 10:00 UTC" in body
        assert fetch(http_port, "blog.example.com")[2] == "blog"  # other apps serve on
        restart_engine(mooring, signal.SIGKILL)
        assert mooring.ps("shop")  # a new engine, which keeps the page up
    assert _get(mooring, "/v1/apps/shop/maintenance") == {
        "app": "shop",
        "maintenance": True,
        "message": "Back at 10:00 UTC",
    }
    mooring.run("maintenance", "off", "--app", "shop", check=True)
    assert fetch(http_port, "shop.example.com")[2] == "shop"
    lines = mooring.run("events", "--app", "shop", "--json", check=True).stdout.splitlines()
    types = [json.loads(line)["type"] for line in lines if line.strip()]
    assert types.count("maintenance.on") == 1 and types.count("maintenance.off") == 1
    assert mooring.run("maintenance", "on", "--app", "nope").returncode == 10


@pytest.mark.parametrize(
    "rollout", ['strategy = "canary"\nparallelism = 2', 'strategy = "blue_green"'], ids=str
)
def test_every_request_succeeds_through_a_route_during_a_canary_and_a_blue_green(
    mooring: Mooring, http_port: int, rollout: str
) -> None:
    shop = write_app(mooring, "shop", app_manifest("shop", route("shop.example.com"), 3, rollout))
    assert up(mooring, shop, V="1")[0] == 0
    running = clients(http_port, host="shop.example.com")
    try:
        code, _, stderr = up(mooring, shop, V="2")
        assert code == 0, stderr
        wait_until(lambda: all(c.switched() for c in running), what="both clients to see only v2")
    finally:
        stop(running)
    assert_no_failures_and_switch(running)
    if "blue_green" in rollout:  # one switch: a new request never goes back to v1
        per_request = running[1].versions
        assert "1" not in per_request[per_request.index("2") :]


def test_an_acme_route_through_the_engine_gets_a_certificate_that_status_shows(
    mooring: Mooring, http_port: int, tmp_path: Path
) -> None:
    https_port = free_port()
    with pebble(tmp_path / "pebble", http_port) as acme:
        mooring.env.update(
            MOORING_HTTPS_LISTEN=f"127.0.0.1:{https_port}",
            MOORING_ACME_DIRECTORY=acme.directory,
            MOORING_ACME_CA_BUNDLE=str(acme.ca_bundle),
            MOORING_ACME_RETRY_AFTER="1s",
        )
        text = app_manifest("shop", route("shop.example.com") + 'tls = "acme"\nhttps_redirect = true\n', 1)
        assert up(mooring, write_app(mooring, "shop", text), V="shop")[0] == 0

        def certificate() -> dict[str, Any] | None:
            certs = _get(mooring, "/v1/edge")["certificates"]
            return certs[0] if certs and certs[0]["not_after"] else None

        cert = wait_until(certificate, timeout=60, what="a certificate from pebble")
        assert "Pebble" in cert["issuer"] and cert["last_error"] is None
        context = trusting(acme.root())
        wait_until(
            lambda: serial_of(https_port, context) == cert["serial"], what="HAProxy to serve the certificate"
        )
        code, body, _ = https_get(https_port, context)
        assert (code, body) == (200, "shop")
        wait_until(lambda: fetch(http_port, "shop.example.com")[0] == 308, what="the redirect to HTTPS")
        status = mooring.run("status", "--app", "shop", check=True).stdout
        assert "acme: CN=Pebble" in status and "expires" in status
        home_certs = mooring.home / "certs"
        assert all(p.stat().st_mode & 0o077 == 0 for p in home_certs.glob("*.pem"))
        assert "PRIVATE KEY" not in json.dumps(_get(mooring, "/v1/apps/shop/proxy"))


def serial_of(port: int, context: ssl.SSLContext) -> str | None:
    try:
        return format(https_get(port, context)[2], "x")
    except (ssl.SSLError, OSError):
        return None


ANALYSIS = """failure_action = "rollback"

[service.web.rollout.analysis]
window = "3s"
min_requests = 20
max_5xx_ratio = 0.05
"""


@pytest.mark.parametrize("behavior", ["errors", "ok"])
def test_the_analysis_gate_rolls_back_a_v2_answering_5xx_and_passes_a_healthy_one(
    mooring: Mooring, http_port: int, behavior: str
) -> None:
    shop = write_app(mooring, "shop", app_manifest("shop", route("shop.example.com"), 3, ANALYSIS))
    assert up(mooring, shop, V="1")[0] == 0
    running = clients(http_port, host="shop.example.com")
    try:
        code, rel, stderr = up(mooring, shop, V="2", BEHAVIOR=behavior)
    finally:
        stop(running)
    lines = mooring.run("events", "--app", "shop", "--json", check=True).stdout.splitlines()
    events = [json.loads(line) for line in lines if line.strip()]
    mine = [e for e in events if e.get("release_id") == rel["id"]]
    if behavior == "ok":
        assert code == 0, stderr
        assert [e["type"] for e in mine].count("analysis.passed") == 3
        return
    assert code == 5, [e for e in mine if e["type"].startswith("analysis")]  # rolled back
    assert rel["failure"]["reason"] == "analysis_failed"
    figures = rel["failure"]["figures"]
    assert 0.1 < figures["ratio_5xx"] < 0.3 and figures["requests"] >= 20, figures
    failed = [e for e in mine if e["type"] == "analysis.failed"]
    assert len(failed) == 1 and failed[0]["batch"] == 1
    started = [e for e in mine if e["type"] == "batch.started"]
    assert len(started) == 1  # stopped before its second batch
    assert {r["id"]: r for r in mooring.ps("shop")}  # v1 serves again
    assert fetch(http_port, "shop.example.com")[2] == "1"
    explain = mooring.run("status", "--app", "shop", "--explain", check=True).stdout
    assert "analysis_failed at batch 1 (web): 5xx ratio" in explain and "new instances:" in explain
