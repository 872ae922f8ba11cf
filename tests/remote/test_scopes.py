"""Per-resource token scopes over TCP: a token limited to apps:read on one app reads that app only,
writes nothing, and each refusal names the scope or app it lacks; every write is in the audit log."""

from __future__ import annotations

import json

import httpx

from tests.remote.conftest import Served

MANIFEST = """
[app]
name = "{name}"

[service.web]
command = ["sleep", "700"]
"""


def http(served: Served, token: str, method: str, path: str, body: object = None) -> httpx.Response:
    with httpx.Client(base_url=f"http://{served.address}", timeout=20) as client:
        return client.request(method, path, json=body, headers={"Authorization": f"Bearer {token}"})


def test_a_token_limited_to_apps_read_on_one_app_reads_it_and_nothing_else(served: Served) -> None:
    host = served.host
    for name in ("alpha", "beta"):
        host.write(f"{name}.toml", MANIFEST.format(name=name))
        host.run("up", "-f", f"{name}.toml", check=True)
    reader = served.token("apps:read", "alpha-reader")
    # the CLI's --scope takes resource scopes; --app limits the token
    made = host.run(
        "token", "create", "--scope", "apps:read", "--app", "alpha", "--ttl", "1h", "--name", "alpha-ro",
        "--json", check=True,
    )  # fmt: skip
    limited = json.loads(made.stdout)
    assert (limited["scope"], limited["scopes"], limited["apps"]) == ("custom", ["apps:read"], ["alpha"])
    assert limited["expires_at"] is not None
    token = limited["token"]

    assert http(served, token, "GET", "/v1/apps/alpha/status").status_code == 200
    other = http(served, token, "GET", "/v1/apps/beta/status")
    assert other.status_code == 403
    assert "limited to apps alpha" in other.json()["message"] and "'beta'" in other.json()["message"]
    listing = http(served, token, "GET", "/v1/apps")
    assert listing.status_code == 403 and "no single app" in listing.json()["message"]
    write = http(served, token, "POST", "/v1/apps/alpha/rollout/pause")
    assert write.status_code == 403 and "needs scope apps:write" in write.json()["message"]
    secret = http(served, token, "POST", "/v1/apps/alpha/secrets/DB_PASSWORD", {"value": "x" * 12})
    assert secret.status_code == 403 and "needs scope secrets:write" in secret.json()["message"]
    tokens = http(served, token, "GET", "/v1/tokens")
    assert tokens.status_code == 403 and "needs scope tokens:admin" in tokens.json()["message"]

    # the unlimited apps:read token reads both apps but cannot write either
    assert http(served, reader, "GET", "/v1/apps/beta/status").status_code == 200
    assert http(served, reader, "POST", "/v1/apps/beta/down").status_code == 403

    # an old write token still writes (its scope stands for apps:write and secrets:write)
    writer = served.token("write", "old-writer")
    set_secret = http(served, writer, "POST", "/v1/apps/alpha/secrets/DB_PASSWORD", {"value": "s3cr3t-value"})
    assert set_secret.status_code == 201, set_secret.text
    assert "s3cr3t-value" not in set_secret.text
    reveal = http(served, writer, "GET", "/v1/apps/alpha/secrets/DB_PASSWORD/value")
    assert reveal.status_code == 403 and "needs scope admin" in reveal.json()["message"]

    # the CLI says which scope it lacks
    cli = served.client(token)
    refused = cli.run("down", "--app", "alpha")
    assert refused.returncode != 0 and "needs scope apps:write" in refused.stderr

    audit = json.loads(host.run("audit", "--json", check=True).stdout)
    seen = {(a["actor"], a["action"], a["outcome"]) for a in audit}
    assert ("token:old-writer", "POST /v1/apps/alpha/secrets/DB_PASSWORD", "ok") in seen
    assert ("token:alpha-ro", "POST /v1/apps/alpha/rollout/pause", "denied") in seen
    assert any(
        a["actor"].startswith("local:") and a["action"] == "POST /v1/apps/beta/releases" for a in audit
    )
    listed = {t["name"]: t for t in json.loads(host.run("token", "list", "--json", check=True).stdout)}
    assert listed["alpha-ro"]["last_used_at"] is not None
    assert listed["old-writer"]["scopes"] == ["apps:read", "apps:write", "secrets:write"]
