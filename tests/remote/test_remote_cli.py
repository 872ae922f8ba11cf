"""Every app command with --server (or MOORING_SERVER) against a second engine behaves as it does locally.

PARITY lists read commands that must print the same locally (the engine's host, unix socket) and
remotely (TCP, token): a new command joins by one line.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.engine.conftest import wait_until
from tests.engine.releases_kit import manifest, release, served_versions, setup, states, up
from tests.remote.conftest import VIAS, Served, serving

VOLATILE = {"uptime", "cpu_percent", "memory_bytes", "last_used_at"}  # figures that change between two calls


def same_json(text: str) -> Any:
    def scrub(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: scrub(v) for k, v in value.items() if k not in VOLATILE}
        if isinstance(value, list):
            return [scrub(v) for v in value]
        return value

    return scrub(json.loads(text))


def ps_columns(text: str) -> list[list[str]]:
    """ps text without UPTIME, CPU and MEM, which change between two calls."""
    return [line.split()[:6] for line in text.splitlines()]


def verbatim(text: str) -> str:
    return text


def without_durations(text: str) -> str:
    """Text with ages and uptimes (``4s``, ``2m03s``, ``1h05m``) masked: they tick between two calls."""
    return re.sub(r"\b\d+(h\d+m|m\d+s|s|m|h|d)\b", "<age>", text)


# (arguments, how to compare the two outputs)
PARITY: list[tuple[tuple[str, ...], Callable[[str], Any]]] = [
    (("ps", "--json"), same_json),
    (("ps", "--app", "rel"), ps_columns),
    (("status", "--app", "rel"), without_durations),
    (("status", "--app", "rel", "--explain"), without_durations),
    (("status", "--app", "rel", "--explain", "--json"), same_json),
    (("apps",), verbatim),
    (("apps", "--json"), same_json),
    (("events", "--app", "rel"), verbatim),
    (("events", "--app", "rel", "--json"), verbatim),
    (("up", "--dry-run"), verbatim),
    (("up", "--dry-run", "--json"), same_json),
    (("status", "--app", "rel", "--json"), same_json),
    (("history", "--app", "rel"), verbatim),
    (("history", "--app", "rel", "--json"), same_json),
    (("logs", "web", "--app", "rel", "--tail", "5"), verbatim),
    (("token", "list", "--json"), same_json),
]


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, str]]:
    """One remote engine running the app (two releases) and an admin token, for the read-only checks."""
    with serving(tmp_path_factory.mktemp("deployed")) as served:
        setup(served.host, manifest(replicas=2))
        deployer = served.client(token=served.token("write", name="deployer"))
        assert up(deployer)[0] == 0
        assert up(deployer, V="2")[0] == 0
        yield served, served.token("admin", name="reader")


def test_a_read_token_may_dry_run_but_not_apply(deployed: tuple[Served, str]) -> None:
    served, _ = deployed
    reader = served.client(token=served.token("read", name="planner"))
    plan = reader.run("up", "--dry-run", "--json")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert json.loads(plan.stdout)["against"] == "engine"
    refused = reader.run("up", "--json")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "needs scope write" in refused.stderr, refused.stderr


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize(("args", "compare"), PARITY, ids=[" ".join(a) for a, _ in PARITY])
def test_read_commands_print_the_same_remotely(
    deployed: tuple[Served, str], via: str, args: tuple[str, ...], compare: Callable[[str], Any]
) -> None:
    served, token = deployed
    local = served.host.run(*args)
    remote = served.client(token=token, via=via).run(*args)
    assert (remote.returncode, local.returncode) == (0, 0), remote.stderr + local.stderr
    assert remote.stdout.strip(), "printed nothing"
    assert compare(remote.stdout) == compare(local.stdout)


def test_apply_outcomes_exit_codes_rollback_and_down_remotely(served: Served, via: str) -> None:
    flag = served.host.cwd / "broken"
    flag.touch()
    setup(served.host, manifest(replicas=2, parallelism=1, timeout="3s"))
    cli = served.client(token=served.token("write"), via=via)

    text = cli.run("up")  # text: plan summary, progress per target, outcome line
    assert text.returncode == 0, text.stdout + text.stderr
    first = json.loads(served.host.run("history", "--app", "rel", "--json", check=True).stdout)[0]
    lines = text.stdout.splitlines()
    assert lines[0] == f"release {first['id']} (#1) of rel: fresh, 2 create"
    batch_1, batch_2 = (
        lines.index("batch 1 web: web-1, readiness deadline 3s"),
        lines.index("batch 2 web: web-2, readiness deadline 3s"),
    )
    assert any(line.split()[:2] == ["web-1", "ready"] for line in lines[batch_1:batch_2]), text.stdout
    assert any(line.split()[:2] == ["web-2", "ready"] for line in lines[batch_2:]), text.stdout
    assert lines[-1].startswith(f"release {first['id']} completed: ") and "(2 ready, 0 failed" in lines[-1]

    code, failed = up(cli, V="2", BEHAVIOR="crash", FAIL_FLAG=str(flag))  # a failed outcome, paused
    assert code == 7
    assert failed["status"] == "failed" and failed["rollout"]["control"] == "paused"
    assert states(failed)["web-1"] == ("failed", "process_exited")
    assert release(served.host, failed["id"]) == failed  # the same object the engine's host sees
    assert served_versions(cli) == {1: "1", 2: "1"}

    flag.unlink()
    resumed = cli.run("rollout", "resume", "--app", "rel", "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["status"] == "completed"
    assert served_versions(cli) == {1: "2", 2: "2"}

    back = cli.run("rollback", "--app", "rel", "--json")
    assert back.returncode == 0, back.stderr
    rolled = json.loads(back.stdout)
    assert rolled["trigger"] == "rollback" and rolled["source_release_id"] == first["id"]
    assert served_versions(cli) == {1: "1", 2: "1"}

    history = json.loads(cli.run("history", "--app", "rel", "--json", check=True).stdout)
    assert [(r["trigger"], r["status"]) for r in history] == [
        ("rollback", "completed"),
        ("apply", "completed"),
        ("apply", "completed"),
    ]
    down = cli.run("down", "--app", "rel")
    assert down.returncode == 0 and down.stdout.startswith("app rel: stopped 2 instances")
    assert cli.ps("rel") == []


def test_pause_and_cancel_a_remote_rollout(served: Served, via: str) -> None:
    flag = served.host.cwd / "slow"
    flag.touch()
    setup(served.host, manifest(replicas=2, parallelism=1, timeout="60s", start_period="60s"))
    cli = served.client(token=served.token("write"), via=via)
    assert up(cli)[0] == 0
    result: dict[str, Any] = {}

    def apply() -> None:
        result["code"], result["rel"] = up(cli, V="2", BEHAVIOR="silent", FAIL_FLAG=str(flag))

    worker = threading.Thread(target=apply)
    worker.start()
    wait_until(
        lambda: any(r["state"] == "running" and r["health"] == "starting" for r in served.host.ps("rel")),
        what="the new instance waiting for readiness",
    )
    paused = cli.run("rollout", "pause", "--app", "rel")
    assert paused.returncode == 0, paused.stderr
    worker.join(60)
    assert result["code"] == 7 and result["rel"]["rollout"]["state"] == "blocked"
    cancelled = cli.run("rollout", "cancel", "--app", "rel", "--json")
    assert cancelled.returncode == 0, cancelled.stderr
    assert json.loads(cancelled.stdout)["status"] == "cancelled"
    status = cli.run("status", "--app", "rel", check=True).stdout
    assert f"release {result['rel']['id']} (#2)  cancelled  rollout cancelled" in status
    assert served_versions(cli) == {1: "1", 2: "1"}


TICKER = """
[service.ticker]
command = ["sh", "-c", "n=0; while true; do n=$$((n+1)); echo tick $$n; sleep 0.2; done"]
"""


def test_logs_follow_streams_remotely(served: Served, via: str) -> None:
    setup(served.host, manifest(replicas=1, extra_service=TICKER))
    assert up(served.client(token=served.token("write"), via=via))[0] == 0
    cli = served.client(token=served.token("read"), via=via)
    args = ["logs", "ticker", "--app", "rel", "--follow"] + (
        ["--server", cli.server] if via == "flag" else []
    )
    follower = subprocess.Popen(
        [sys.executable, "-m", "mooring", *args],
        cwd=cli.cwd,
        env=cli.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(iter(follower.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()

    def ticks() -> list[int]:
        return [int(line.split()[-1]) for line in list(seen) if line.split()[-2:-1] == ["tick"]]

    try:
        first = wait_until(ticks, what="the ticker's first lines")[-1]
        wait_until(lambda: ticks()[-1] >= first + 3, what="lines the ticker wrote after the stream opened")
    finally:
        follower.terminate()
        follower.wait(10)
    assert ticks() == list(range(ticks()[0], ticks()[-1] + 1)), "no line lost or repeated on the stream"


def test_tls_with_a_self_signed_certificate(tmp_path: Path, via: str) -> None:
    from tests.remote.conftest import self_signed

    cert, key = self_signed(tmp_path)
    with serving(tmp_path / "engine", tls=(cert, key)) as served:
        token = served.token("read")
        trusting = served.client(token=token, via=via, MOORING_CA_CERT=str(cert))
        assert trusting.run("ps", "--json", check=True).stdout.strip() == "[]"
        bare = served.address.removeprefix("https://")  # MOORING_CA_CERT implies https
        trusting.server = bare
        if via == "env":
            trusting.env["MOORING_SERVER"] = bare
        unknown = trusting.run("history", "--app", "rel", "--json")  # over TLS: the engine answers
        assert unknown.returncode == 10 and "no app named 'rel'" in unknown.stderr, unknown.stderr

        untrusting = served.client(token=token, via=via).run("ps")
        assert untrusting.returncode == 9
        assert f"the TLS certificate of the engine at {served.address} is not trusted" in untrusting.stderr
        assert "MOORING_CA_CERT" in untrusting.stderr

        plain = served.client(token=token, via=via)
        plain.server = f"http://{bare}"
        if via == "env":
            plain.env["MOORING_SERVER"] = plain.server
        refused = plain.run("ps")
        assert refused.returncode == 9 and f"http://{bare}" in refused.stderr
        assert "https://" in refused.stderr


def test_serve_refuses_plain_http_beyond_loopback_and_a_port_in_use(served: Served) -> None:
    exposed = served.host.run("serve", "--listen", "0.0.0.0:7878", timeout=30)
    assert exposed.returncode == 1
    assert "refusing to serve the API without TLS on a non-loopback address" in exposed.stderr
    assert "--tls-cert" in exposed.stderr and "--insecure" in exposed.stderr
    env = {**served.host.env, "MOORING_HOME": str(served.host.home.parent / "other")}
    taken = subprocess.run(
        [sys.executable, "-m", "mooring", "serve", "--listen", f"127.0.0.1:{served.port}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert taken.returncode == 1
    assert f"cannot listen on 127.0.0.1:{served.port}: Address already in use" in taken.stderr
    assert not (served.host.home.parent / "other" / "engine.sock").exists()
