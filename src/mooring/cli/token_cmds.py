"""``mooring token create|list|revoke``: bearer tokens for the engine's TCP listener (docs/remote.md)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mooring.cli.connect import ServerOption, engine_client
from mooring.cli.options import JsonFlag

token_app = typer.Typer(
    name="token",
    help="Bearer tokens for remote access (mooring serve --listen); managed through the local engine.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(token_app)


@token_app.command("create")
def create(
    scope: Annotated[
        list[str],
        typer.Option(
            "--scope",
            help="read: status, history, ps, logs; write: also up, rollout, rollback, down, secrets; "
            "admin: also tokens, audit, revealing secrets. Or resource scopes, repeated or comma-separated: "
            "apps:read, apps:write, secrets:write, secrets:read, audit:read, tokens:admin.",
        ),
    ],
    name: Annotated[str | None, typer.Option("--name", help="A unique name (default: token-<id>).")] = None,
    apps: Annotated[
        list[str] | None, typer.Option("--app", help="Limit the token to this app (repeat for several).")
    ] = None,
    ttl: Annotated[str | None, typer.Option("--ttl", help="Expire after this long, e.g. 12h, 30d.")] = None,
    json_output: JsonFlag = False,
    server: ServerOption = None,
) -> int:
    """Create a token and print its secret (only this once: the engine keeps just its sha256)."""
    from mooring.cli.output import err, print_json
    from mooring.errors import UsageError
    from mooring.manifest.durations import parse_duration

    scopes = [one.strip() for item in scope for one in item.split(",") if one.strip()]
    body: dict[str, object] = {"name": name, "apps": apps or None}
    if len(scopes) == 1 and scopes[0] in ("read", "write", "admin"):
        body["scope"] = scopes[0]
    else:
        body["scopes"] = scopes
    if ttl:
        try:
            body["ttl_seconds"] = parse_duration(ttl)
        except ValueError as exc:
            raise UsageError(f"--ttl: {exc}") from None
    created = engine_client(server).post("/v1/tokens", body)
    if json_output:
        print_json(created)
        return 0
    # The secret alone on stdout, so `export MOORING_TOKEN=$(mooring token create ...)` works.
    err.print(
        f"token {created['id']} ({created['name']}, scope {created['scope']}) created; "
        "its secret is printed below, only this once:",
        markup=False,
    )
    print(created["token"], flush=True)
    return 0


@token_app.command("list")
def list_tokens(json_output: JsonFlag = False, server: ServerOption = None) -> int:
    """Every token: id, name, scope, when created, last used and revoked (never the secret)."""
    from mooring.cli.output import out, print_json
    from mooring.cli.tables import text_table

    rows = engine_client(server).get("/v1/tokens")
    if json_output:
        print_json(rows)
        return 0
    if not rows:
        out.print(
            "no tokens yet; create one with: mooring token create --scope read|write|admin", markup=False
        )
        return 0

    def when(value: str | None) -> str:
        return value[:19].replace("T", " ") if value else "-"

    cells = [
        [
            t["id"],
            t["name"],
            scope_cell(t),
            when(t["created_at"]),
            when(t["last_used_at"]),
            when(t["revoked_at"]),
        ]
        for t in rows
    ]
    out.print(text_table(["ID", "NAME", "SCOPE", "CREATED", "LAST USED", "REVOKED"], cells), markup=False)
    return 0


def scope_cell(token: dict[str, Any]) -> str:
    """``write``, or ``apps:read,apps:write`` with ``[alpha]`` when limited and ``until ...`` when it expires."""
    scopes = token.get("scopes") or []
    text = str(token["scope"]) if token["scope"] != "custom" else ",".join(str(s) for s in scopes)
    if token.get("apps"):
        text += f" [{','.join(str(a) for a in token['apps'])}]"
    if token.get("expires_at"):
        text += f" until {str(token['expires_at'])[:16].replace('T', ' ')}"
    return text


@token_app.command("revoke")
def revoke(
    token: Annotated[str, typer.Argument(help="The token's id or name.", metavar="ID_OR_NAME")],
    json_output: JsonFlag = False,
    server: ServerOption = None,
) -> int:
    """Revoke a token: requests with it are refused (401) from now on; it stays listed."""
    from mooring.cli.output import out, print_json

    revoked = engine_client(server).post(f"/v1/tokens/{token}/revoke")
    if json_output:
        print_json(revoked)
    else:
        out.print(
            f"token {revoked['id']} ({revoked['name']}) revoked at {revoked['revoked_at']}", markup=False
        )
    return 0
