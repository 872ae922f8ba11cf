"""The TCP listener answers only to a bearer token whose scope covers the request; the CLI says why not."""

from __future__ import annotations

import json

import httpx

from tests.engine.conftest import free_port
from tests.engine.releases_kit import manifest, setup
from tests.remote.conftest import Served


def test_without_a_token_the_cli_says_MOORING_TOKEN_is_missing_and_the_api_answers_401(
    served: Served,
) -> None:
    result = served.client(token=None).run("ps")
    assert result.returncode == 1
    assert (
        f"MOORING_TOKEN is not set: the engine at http://{served.address} needs a bearer token"
        in result.stderr
    )
    assert "mooring token create" in result.stderr
    reply = httpx.get(f"http://{served.address}/v1/instances", timeout=10)
    assert reply.status_code == 401
    assert reply.headers["www-authenticate"].startswith("Bearer")
    body = reply.json()
    assert body["code"] == "unauthorized" and "none was sent" in body["message"]
    assert "mooring token create" in body["hint"]
    # The engine's own host needs no token: the unix socket is trusted by its 0600 mode.
    assert served.host.run("ps", "--json", check=True).stdout.strip() == "[]"


def test_a_wrong_token_is_not_recognised(served: Served) -> None:
    served.token("admin")
    result = served.client(token="mooring_not-a-real-token").run("history", "--app", "rel")
    assert result.returncode == 1
    assert "the bearer token is not recognised by this engine" in result.stderr
    reply = httpx.get(
        f"http://{served.address}/v1/engine", headers={"Authorization": "Bearer nope"}, timeout=10
    )
    assert reply.status_code == 401 and reply.json()["code"] == "unauthorized"


def test_a_revoked_token_is_refused_and_says_so(served: Served) -> None:
    secret = served.token("read", name="dash")
    client = served.client(token=secret)
    assert client.run("ps").returncode == 0
    listed = json.loads(served.host.run("token", "list", "--json", check=True).stdout)
    assert [(t["name"], t["scope"], t["revoked_at"]) for t in listed] == [("dash", "read", None)]
    assert listed[0]["last_used_at"] is not None and "token" not in listed[0]
    revoked = served.host.run("token", "revoke", "dash", check=True)
    assert f"token {listed[0]['id']} (dash) revoked at" in revoked.stdout
    result = client.run("ps")
    assert result.returncode == 1
    assert f"the bearer token 'dash' (id {listed[0]['id']}) was revoked at" in result.stderr
    assert "mooring token create" in result.stderr


def test_a_read_token_cannot_apply_and_nothing_is_recorded(served: Served) -> None:
    setup(served.host, manifest(replicas=1))
    reader = served.client(token=served.token("read", name="reader"))
    result = reader.run("up")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "token 'reader'" in result.stderr and "has scope read" in result.stderr
    assert "POST /v1/apps/rel/releases needs scope write" in result.stderr
    assert "--scope write" in result.stderr
    # nothing was recorded: the app is still unknown (exit 10, not found) to the host and the reader
    for client in (served.host, reader):
        unknown = client.run("history", "--app", "rel", "--json")
        assert unknown.returncode == 10 and "no app named 'rel'" in unknown.stderr, unknown.stderr
    for command in (
        ("rollout", "pause", "--app", "rel"),
        ("rollback", "--app", "rel"),
        ("down", "--app", "rel"),
    ):
        refused = reader.run(*command)
        assert refused.returncode == 1 and "needs scope write" in refused.stderr, command


def test_tokens_are_managed_remotely_only_with_an_admin_token(served: Served, via: str) -> None:
    writer = served.client(token=served.token("write", name="deployer"), via=via)
    refused = writer.run("token", "list")
    assert refused.returncode == 1
    assert "has scope write; GET /v1/tokens needs scope admin" in refused.stderr
    admin = served.client(token=served.token("admin", name="root"), via=via)
    created = json.loads(
        admin.run("token", "create", "--scope", "read", "--name", "ci", "--json", check=True).stdout
    )
    assert created["scope"] == "read" and created["token"].startswith("mooring_")
    table = admin.run("token", "list", check=True).stdout.splitlines()
    assert table[0].split() == ["ID", "NAME", "SCOPE", "CREATED", "LAST", "USED", "REVOKED"]
    assert [line.split()[1:3] for line in table[1:]] == [
        ["deployer", "write"],
        ["root", "admin"],
        ["ci", "read"],
    ]
    assert admin.run("token", "revoke", created["id"], check=True).returncode == 0
    again = admin.run("token", "create", "--scope", "read", "--name", "ci")
    assert again.returncode == 1 and "a token named 'ci' already exists" in again.stderr
    unknown = admin.run("token", "revoke", "nobody")
    assert unknown.returncode == 10 and "no token with id or name 'nobody'" in unknown.stderr


def test_an_engine_that_does_not_answer_exits_9_naming_the_address(served: Served, via: str) -> None:
    nobody = f"127.0.0.1:{free_port()}"
    client = served.client(token="whatever", via=via)
    client.server = nobody
    if via == "env":
        client.env["MOORING_SERVER"] = nobody
    result = client.run("status", "--app", "rel")
    assert result.returncode == 9, result.stderr
    assert f"cannot reach the mooring engine at http://{nobody}" in result.stderr
    assert "mooring serve --listen" in result.stderr
