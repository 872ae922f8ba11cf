"""Secrets end to end: encrypted at rest, given to an instance as env and as a 0400 tmpfs file, found
nowhere else; rotation replaces exactly the instances that use them, rollback restores the old
version, rotate-key leaves everything running; probe output that echoes a secret is masked."""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from mooring.engine.secret_files import filesystem_of
from mooring.errors import StoreError
from mooring.store.keyring import load_keyring
from tests.engine.conftest import Mooring, wait_until

MANIFEST = """
[app]
name = "vault"

[service.api]
command = ["sleep", "600"]
secrets = { DB_PASSWORD = { env = "DB_PASSWORD", file = "db_password" } }
health_check = { type = "exec", command = ["sh", "-c", "test -s \\"$MOORING_SECRETS_DIR/db_password\\""], interval = "200ms" }

[service.other]
command = ["sleep", "601"]
"""

LEAKY = """
[app]
name = "leaky"

[service.web]
command = ["sleep", "602"]
secrets = ["API_TOKEN"]
health_check = { type = "exec", command = ["sh", "-c", "echo \\"token is $API_TOKEN\\"; exit 1"], interval = "200ms", retries = 1 }
rollout = { health_check_timeout = "2s" }
"""


def run_in(mooring: Mooring, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mooring", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=mooring.env,
        cwd=mooring.cwd,
        timeout=120,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"exit {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result


def api(mooring: Mooring, path: str) -> str:
    transport = httpx.HTTPTransport(uds=str(mooring.home / "engine.sock"))
    with httpx.Client(transport=transport, base_url="http://mooring", timeout=10) as client:
        response = client.get(path)
        assert response.status_code < 500, response.text
        return response.text


def files_holding(root: Path, value: str) -> list[str]:
    """Every file under ``root`` whose bytes contain ``value`` (state.db, its WAL, logs, ...)."""
    needle = value.encode()
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_socket():
            try:
                if needle in path.read_bytes():
                    found.append(str(path))
            except OSError:
                continue
    return found


def instance(mooring: Mooring, app: str, service: str) -> dict[str, Any]:
    rows = [r for r in mooring.ps(app) if r["service"] == service and r["state"] == "running"]
    assert len(rows) == 1, rows
    return rows[0]


def environ(pid: int) -> dict[str, str]:
    return dict(psutil.Process(pid).environ())


def every_answer(mooring: Mooring, app: str) -> str:
    """Everything a client can read about the app: CLI JSON and text, and the raw API routes."""
    outputs = []
    for args in (
        ("status", "--app", app, "--json"),
        ("status", "--app", app, "--explain"),
        ("status", "--app", app, "--explain", "--json"),
        ("history", "--app", app, "--json"),
        ("events", "--app", app, "--json"),
        ("ps", "--app", app, "--json"),
        ("secret", "list", "--app", app, "--json"),
        ("audit", "--json"),
    ):
        result = run_in(mooring, *args)
        outputs += [result.stdout, result.stderr]
    for path in (
        f"/v1/apps/{app}/status",
        f"/v1/apps/{app}/releases",
        f"/v1/apps/{app}/explain",
        f"/v1/apps/{app}/events?follow=false",
        "/v1/instances",
        f"/v1/apps/{app}/secrets",
        "/v1/audit",
    ):
        outputs.append(api(mooring, path))
    releases = json.loads(api(mooring, f"/v1/apps/{app}/releases"))
    for release in releases:
        outputs.append(api(mooring, f"/v1/releases/{release['id']}"))
        outputs.append(api(mooring, f"/v1/releases/{release['id']}/events"))
    return "\n".join(outputs)


def test_a_secret_reaches_only_its_instance_and_rotates_as_a_release(mooring: Mooring) -> None:
    v1 = "pw-one-" + secrets.token_hex(8)
    v2 = "pw-two-" + secrets.token_hex(8)
    cli_output: list[str] = []

    def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        result = ok(run_in(mooring, *args, stdin=stdin))
        cli_output.extend([result.stdout, result.stderr])
        return result

    mooring.write("mooring.toml", MANIFEST)
    missing = run_in(mooring, "up")
    assert missing.returncode != 0
    assert "service api: secret DB_PASSWORD is not set for app vault" in missing.stderr
    assert "mooring secret set DB_PASSWORD" in missing.stderr

    cli("secret", "set", "DB_PASSWORD", stdin=v1 + "\n")
    cli("up")
    api_row, other_row = instance(mooring, "vault", "api"), instance(mooring, "vault", "other")
    env = environ(api_row["pid"])
    assert env["DB_PASSWORD"] == v1
    secret_file = Path(env["MOORING_SECRETS_DIR"]) / "db_password"
    assert secret_file.read_text() == v1
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o400
    assert filesystem_of(secret_file) == "tmpfs"
    assert mooring.home not in secret_file.parents
    assert "DB_PASSWORD" not in environ(other_row["pid"])

    # found nowhere else: not in any answer, not in any file of MOORING_HOME (state.db, WAL, logs)
    assert v1 not in every_answer(mooring, "vault")
    assert files_holding(mooring.home, v1) == []
    listed = json.loads(run_in(mooring, "secret", "list", "--app", "vault", "--json").stdout)
    assert [(s["name"], s["version"], s["used_by"]) for s in listed] == [("DB_PASSWORD", 1, ["service.api"])]
    assert listed[0]["updated_by"].startswith("local:")

    # a copy of state.db without the key shows ciphertext only, and another key cannot open it
    scratch = mooring.home.parent / "scratch"  # not the manifest's directory: its code is digested
    scratch.mkdir()
    copy = scratch / "copy.db"
    ok(
        subprocess.run(
            ["sqlite3", str(mooring.home / "state.db"), f".backup {copy}"], capture_output=True, check=False
        )
    )
    with sqlite3.connect(copy) as db:
        (cipher,) = db.execute("SELECT ciphertext FROM secret_versions").fetchone()
    assert cipher.startswith("enc1:") and v1 not in cipher
    assert v1.encode() not in copy.read_bytes()
    stranger = load_keyring(scratch / "other.key")
    with pytest.raises(StoreError, match="lacks"):
        stranger.decrypt(cipher, "secret vault/DB_PASSWORD v1")

    # rotation: a new version replaces exactly the instances that use it
    cli("secret", "set", "DB_PASSWORD", stdin=v2)
    plan = cli("up", "--dry-run").stdout
    assert "service.api: secret DB_PASSWORD: v1 -> v2 (restart)" in plan
    assert v2 not in plan
    cli("up")
    rotated = instance(mooring, "vault", "api")
    assert rotated["id"] != api_row["id"] and environ(rotated["pid"])["DB_PASSWORD"] == v2
    assert instance(mooring, "vault", "other")["id"] == other_row["id"]
    wait_until(lambda: not secret_file.exists(), what="the replaced instance's secret file to go")

    # rollback restores the version the earlier release pinned
    cli("rollback", "--app", "vault")
    back = instance(mooring, "vault", "api")
    assert environ(back["pid"])["DB_PASSWORD"] == v1
    assert Path(environ(back["pid"])["MOORING_SECRETS_DIR"], "db_password").read_text() == v1

    # rotate-key: every service keeps running, every secret stays readable
    key_before = (mooring.home / "secret.key").read_text()
    pids = {r["id"]: r["pid"] for r in mooring.ps("vault")}
    cli("secret", "rotate-key")
    assert (mooring.home / "secret.key").read_text() != key_before
    assert {r["id"]: r["pid"] for r in mooring.ps("vault") if r["state"] == "running"} == pids
    revealed = ok(
        run_in(mooring, "secret", "get", "DB_PASSWORD", "--app", "vault", "--reveal", "--version", "1")
    )
    assert revealed.stdout.strip() == v1
    versions = json.loads(cli("secret", "versions", "DB_PASSWORD", "--app", "vault", "--json").stdout)
    assert [v["version"] for v in versions] == [1, 2]

    # an engine restart adopts the instances: their sealed env opens with the new key
    os.kill(mooring.engine_pid() or 0, 9)
    wait_until(lambda: mooring.engine_pid() is None, what="the engine to die")
    assert instance(mooring, "vault", "api")["id"] == back["id"]

    # the audit log has every write, by whom and how it ended
    audit = json.loads(cli("audit", "--json").stdout)
    actions = [(a["action"], a["outcome"]) for a in audit]
    assert actions.count(("POST /v1/apps/vault/secrets/DB_PASSWORD", "ok")) == 2
    assert actions.count(("POST /v1/apps/vault/releases", "ok")) == 2
    assert ("POST /v1/apps/vault/rollback", "ok") in actions
    assert ("POST /v1/secrets/rotate-key", "ok") in actions
    assert ("GET /v1/apps/vault/secrets/DB_PASSWORD/value", "ok") in actions
    assert all(a["actor"].startswith("local:") for a in audit)
    by_app = json.loads(cli("audit", "--app", "vault", "--since", "1h", "--json").stdout)
    assert by_app and all(a["app"] == "vault" for a in by_app)

    # and still nowhere but in the instances
    everything = every_answer(mooring, "vault") + "\n".join(cli_output)
    for value in (v1, v2):
        assert value not in everything
        assert files_holding(mooring.home, value) == []


def test_an_exec_probe_that_echoes_a_secret_is_masked_everywhere(mooring: Mooring) -> None:
    token = "tok-" + secrets.token_hex(10)
    mooring.write("mooring.toml", LEAKY)
    ok(run_in(mooring, "secret", "set", "API_TOKEN", "--app", "leaky", stdin=token))
    up = run_in(mooring, "up")
    assert up.returncode != 0, up.stdout
    answers = every_answer(mooring, "leaky") + up.stdout + up.stderr
    assert "token is ***" in answers  # the probe's output is shown, masked
    assert token not in answers
    assert files_holding(mooring.home, token) == []
    assert "token is ***" in (mooring.home / "state.db").read_bytes().decode(errors="replace") + (
        (mooring.home / "state.db-wal").read_bytes().decode(errors="replace")
        if (mooring.home / "state.db-wal").exists()
        else ""
    )
