"""Zero-downtime cutover through the engine's proxy, measured by clients in a tight loop.

Two clients hammer the published port on loopback for the whole of a release: one reuses a
keep-alive connection, one opens a new connection per request. The keep-alive client behaves like
every HTTP/1.1 client (RFC 9112 9.3.1): a request on a *reused* connection that the server closed
before sending any byte of a response is retried once on a new connection; those retries are
counted, and any other error is a failure.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.engine.conftest import Mooring, free_port, wait_until
from tests.engine.releases_kit import _get, events, release, states

APP = Path(__file__).parent / "apps" / "keepalive.py"
STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


def manifest(
    port: int, replicas: int, strategy: str, parallelism: int, order: str = "start_first", extra: str = ""
) -> str:
    return f"""
[app]
name = "zd"

[service.web]
command = ["python3", "keepalive.py"]
ports = ["127.0.0.1:{port}:8000"]
replicas = {replicas}
env = {{ V = "${{V:-1}}", BEHAVIOR = "${{BEHAVIOR:-ok}}" }}
restart = "on-failure"
max_restarts = 1

[service.web.health_check]
type = "http"
path = "/health"
interval = "200ms"
timeout = "500ms"
retries = 2

[service.web.rollout]
strategy = "{strategy}"
parallelism = {parallelism}
order = "{order}"
health_check_timeout = "5s"
drain_timeout = "1s"
{extra}"""


@dataclass(eq=False)
class Client(threading.Thread):
    """Sends GET / in a tight loop until stopped; records versions, failures and stale retries."""

    port: int
    keep_alive: bool
    host: str | None = None  # a Host header (an HTTP route); None: http.client's own
    versions: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    stale_retries: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        threading.Thread.__init__(self, daemon=True)

    def run(self) -> None:
        conn: http.client.HTTPConnection | None = None
        while not self.stop.is_set():
            fresh = conn is None
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            try:
                headers = {} if self.keep_alive else {"Connection": "close"}
                if self.host is not None:
                    headers["Host"] = self.host
                conn.request("GET", "/", headers=headers)
                reply = conn.getresponse()
                body = reply.read().decode()
                if reply.status != 200:
                    self.failures.append(f"HTTP {reply.status}: {body}")
                else:
                    self.versions.append(body)
                if reply.will_close or not self.keep_alive:
                    conn.close()
                    conn = None
            except STALE as exc:
                conn.close()
                conn = None
                if fresh:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                else:
                    self.stale_retries += 1  # reused connection closed before any response: retry
            except (OSError, http.client.HTTPException) as exc:  # a cut response is a failure too
                conn.close()
                conn = None
                self.failures.append(f"{type(exc).__name__}: {exc}")
        if conn is not None:
            conn.close()

    def switched(self) -> bool:
        return len(self.versions) >= 20 and set(self.versions[-20:]) == {"2"}


def start_app(mooring: Mooring, text: str) -> None:
    shutil.copy(APP, mooring.cwd / "keepalive.py")
    mooring.write("mooring.toml", text)
    code, rel = up(mooring, V="1")
    assert code == 0, f"the first apply ended {rel['status']}: {rel['message']} {rel['targets']}"


def up(mooring: Mooring, **env: str) -> tuple[int, dict[str, Any]]:
    saved = dict(mooring.env)
    mooring.env.update(env)
    try:
        result = mooring.run("up", "--json")
    finally:
        mooring.env.clear()
        mooring.env.update(saved)
    return result.returncode, json.loads(result.stdout)


def clients(port: int, host: str | None = None) -> list[Client]:
    started = [Client(port, keep_alive=True, host=host), Client(port, keep_alive=False, host=host)]
    for c in started:
        c.start()
    wait_until(
        lambda: all(len(c.versions) >= 20 for c in started),
        what="both clients to get answers",
    )
    return started


def stop(running: list[Client]) -> None:
    for c in running:
        c.stop.set()
    for c in running:
        c.join(15)


def proxy_view(mooring: Mooring) -> dict[str, Any]:
    view: dict[str, Any] = _get(mooring, "/v1/apps/zd/proxy")
    return view["services"][0]


def assert_no_failures_and_switch(running: list[Client]) -> None:
    for c in running:
        kind = "keep-alive" if c.keep_alive else "new connection per request"
        assert c.failures == [], f"{kind}: {len(c.failures)} failed of {len(c.versions)}: {c.failures[:5]}"
        assert c.versions[0] == "1" and c.versions[-1] == "2", kind


@pytest.mark.parametrize(
    ("strategy", "parallelism"), [("rolling", 1), ("canary", 2), ("blue_green", 1)], ids=str
)
def test_every_request_succeeds_during_a_start_first_update(
    mooring: Mooring, strategy: str, parallelism: int
) -> None:
    port = free_port()
    start_app(mooring, manifest(port, replicas=3, strategy=strategy, parallelism=parallelism))
    running = clients(port)
    try:
        code, rel = up(mooring, V="2")
        assert code == 0, rel["message"]
        assert set(states(rel).values()) == {("ready", None)}
        wait_until(lambda: all(c.switched() for c in running), what="both clients to see only v2")
    finally:
        stop(running)
    assert_no_failures_and_switch(running)
    if strategy == "blue_green":  # the whole set switches at once: a new connection never goes back to v1
        per_request = running[1].versions
        assert "1" not in per_request[per_request.index("2") :]
    svc = proxy_view(mooring)
    assert svc["counters"]["errors"] == 0
    assert len(svc["instances"]) == 3 and all(i["serving"] for i in svc["instances"])
    rows = mooring.ps("zd")
    assert {i["id"] for i in svc["instances"]} == {r["id"] for r in rows}
    assert all(r["upstream"] == f"127.0.0.1:{r['ports']['8000']}" and r["serving"] for r in rows)
    if strategy == "rolling":  # the operator's view: ps and status text
        ps_text = mooring.run("ps", "--app", "zd", check=True).stdout
        assert "UPSTREAM" in ps_text.splitlines()[0] and rows[0]["upstream"] in ps_text
        status = mooring.run("status", "--app", "zd", check=True).stdout
        proxy_part = status[status.index("proxy:") :]
        assert f"127.0.0.1:{port}" in proxy_part and all(r["id"] in proxy_part for r in rows)


def test_stop_first_with_replicas_to_spare_still_serves_every_request(mooring: Mooring) -> None:
    """The proxy takes each old instance out before stopping it; the other replicas carry the load."""
    port = free_port()
    start_app(mooring, manifest(port, replicas=3, strategy="rolling", parallelism=1, order="stop_first"))
    running = clients(port)
    try:
        code, rel = up(mooring, V="2")
        assert code == 0, rel["message"]
        wait_until(lambda: all(c.switched() for c in running), what="both clients to see only v2")
    finally:
        stop(running)
    assert_no_failures_and_switch(running)


def test_stop_first_on_a_single_replica_fails_requests_during_the_gap(mooring: Mooring) -> None:
    """Documented behaviour: stop_first has no overlap, so a lone replica leaves a gap; the proxy
    closes the connections that arrive in it (no ready instance) and counts them as errors."""
    port = free_port()
    start_app(mooring, manifest(port, replicas=1, strategy="rolling", parallelism=1, order="stop_first"))
    running = clients(port)
    try:
        code, rel = up(mooring, V="2")
        assert code == 0, rel["message"]
        wait_until(lambda: all(c.switched() for c in running), what="both clients to see only v2")
    finally:
        stop(running)
    per_request = running[1]
    assert per_request.failures, "a new connection per request must hit the gap of a lone stop_first slot"
    assert all(f.startswith(("RemoteDisconnected", "ConnectionResetError")) for f in per_request.failures)
    assert proxy_view(mooring)["counters"]["errors"] >= len(per_request.failures)
    for c in running:
        assert c.versions[0] == "1" and c.versions[-1] == "2"


def test_a_failed_new_instance_never_receives_traffic(mooring: Mooring) -> None:
    port = free_port()
    start_app(mooring, manifest(port, replicas=3, strategy="rolling", parallelism=1))
    old_ids = {r["id"] for r in mooring.ps("zd")}
    running = clients(port)
    try:
        # v2 answers GET / but fails its health check: if it got one connection, a "2" would show
        code, rel = up(mooring, V="2", BEHAVIOR="unhealthy")
        for c in running:  # keep going a little after the failure
            n = len(c.versions)
            wait_until(lambda c=c, n=n: len(c.versions) > n + 50, what="more answers after the failure")
    finally:
        stop(running)
    assert code != 0 and rel["status"] == "failed"
    assert states(rel)["web-1"] == ("failed", "readiness_failed")
    for c in running:
        assert c.failures == [] and set(c.versions) == {"1"}
    svc = proxy_view(mooring)
    assert {i["id"] for i in svc["instances"]} == old_ids  # the failed one was never admitted
    per_instance = sum(i["counters"]["connections"] for i in svc["instances"])
    assert per_instance == svc["counters"]["connections"] > 100
    assert svc["counters"]["errors"] == 0


def test_a_port_in_use_fails_the_target_and_names_port_and_service(mooring: Mooring) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        shutil.copy(APP, mooring.cwd / "keepalive.py")
        mooring.write("mooring.toml", manifest(port, replicas=2, strategy="rolling", parallelism=2))
        code, rel = up(mooring)
    finally:
        taken.close()
    assert code != 0 and rel["status"] == "failed"
    details = [t["detail"] for t in rel["targets"]]
    assert all(f"cannot publish port 127.0.0.1:{port} of service web" in d for d in details), details
    assert all(t["reason"] == "start_failed" for t in rel["targets"])
    assert mooring.ps("zd") == []  # nothing half-applied: no instance left running


def test_engine_restart_keeps_serving_from_adopted_instances(mooring: Mooring) -> None:
    port = free_port()
    start_app(mooring, manifest(port, replicas=2, strategy="rolling", parallelism=1))
    pid = mooring.engine_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: mooring.engine_pid() is None, what="the engine to die")
    rows = mooring.ps("zd")  # starts a new engine, which adopts the instances
    assert len(rows) == 2 and all(r["state"] == "running" for r in rows)

    def answer() -> str | None:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/")
            return conn.getresponse().read().decode()
        except OSError:
            return None

    assert wait_until(answer, what="the published port to answer after the engine restart") == "1"
    svc = proxy_view(mooring)
    assert {i["id"] for i in svc["instances"]} == {r["id"] for r in rows}
    assert release(mooring, up(mooring, V="2")[1]["id"])["status"] == "completed"  # and it can still roll out


def test_a_removed_service_frees_its_published_port(mooring: Mooring) -> None:
    port, other = free_port(), free_port()
    extra = f"""
[service.other]
command = ["python3", "keepalive.py"]
ports = ["127.0.0.1:{other}:8000"]
"""
    start_app(mooring, manifest(port, replicas=1, strategy="rolling", parallelism=1, extra=extra))
    assert {s["service"] for s in _get(mooring, "/v1/apps/zd/proxy")["services"]} == {"web", "other"}
    mooring.write("mooring.toml", manifest(port, replicas=1, strategy="rolling", parallelism=1))
    code, rel = up(mooring, V="1")
    assert code == 0 and states(rel)["other-1"] == ("removed", None)
    with socket.socket() as sock:  # nothing holds the removed service's port any more
        sock.bind(("127.0.0.1", other))
    assert [s["service"] for s in _get(mooring, "/v1/apps/zd/proxy")["services"]] == ["web"]


def refused(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:port (the connection is refused outright)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            return False
    except ConnectionRefusedError:
        return True


def get_version(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/")
        return conn.getresponse().read().decode()
    finally:
        conn.close()


def test_a_failed_fresh_apply_leaves_no_listener_bound(mooring: Mooring) -> None:
    port = free_port()
    shutil.copy(APP, mooring.cwd / "keepalive.py")
    mooring.write("mooring.toml", manifest(port, replicas=1, strategy="rolling", parallelism=1))
    code, rel = up(mooring, BEHAVIOR="unhealthy")
    assert code != 0 and rel["status"] == "failed", rel["status"]
    assert mooring.ps("zd") == []
    assert refused(port), f"127.0.0.1:{port} still accepts connections with no instance behind it"
    assert _get(mooring, "/v1/apps/zd/proxy")["services"] == []


def test_changing_only_the_host_port_rebinds_it_without_restarting(mooring: Mooring) -> None:
    old_port, new_port = free_port(), free_port()
    start_app(mooring, manifest(old_port, replicas=2, strategy="rolling", parallelism=1))
    before = {r["id"] for r in mooring.ps("zd")}
    assert get_version(old_port) == "1"
    mooring.write("mooring.toml", manifest(new_port, replicas=2, strategy="rolling", parallelism=1))
    code, rel = up(mooring, V="1")
    assert code == 0, rel["message"]
    assert set(states(rel).values()) == {("skipped", "unchanged")}
    assert {r["id"] for r in mooring.ps("zd")} == before  # nothing restarted
    assert get_version(new_port) == "1"
    assert refused(old_port), f"the old published port {old_port} is still bound"
    listeners = proxy_view(mooring)["listeners"]
    assert listeners == [{"address": f"127.0.0.1:{new_port}", "port": 8000}]


def test_a_connection_open_at_the_drain_deadline_is_counted_when_cut(mooring: Mooring) -> None:
    port = free_port()
    start_app(mooring, manifest(port, replicas=1, strategy="rolling", parallelism=1))
    old_id = mooring.ps("zd")[0]["id"]
    held = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        held.request("GET", "/")  # a keep-alive connection pinned to the old instance, then left idle
        assert held.getresponse().read() == b"1"
        code, rel = up(mooring, V="2")
    finally:
        held.close()
    assert code == 0, rel["message"]
    stopped = [e for e in events(mooring, rel["id"]) if e["type"] == "instance.stopped"]
    assert [(e["instance_id"], e["connections_cut"]) for e in stopped] == [(old_id, 1)]
    log_text = (mooring.home / "engine.log").read_text()
    assert f"{old_id} (app zd, service web): 1 connection(s) still open after drain_timeout 1s" in log_text
