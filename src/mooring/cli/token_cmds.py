"""``mooring token create|list|revoke``: bearer tokens for the engine's TCP listener (docs/remote.md)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from mooring.cli.connect import ServerOption, engine_client
from mooring.cli.options import JsonFlag

token_app = typer.Typer(
    name="token",
    help="Bearer tokens for remote access (mooring serve --listen); managed through the local engine.",
    no_args_is_help=True,
)


class Scope(StrEnum):
    read = "read"
    write = "write"
    admin = "admin"


def register(app: typer.Typer) -> None:
    app.add_typer(token_app)


@token_app.command("create")
def create(
    scope: Annotated[
        Scope,
        typer.Option(
            "--scope",
            help="read: status, history, ps, logs; write: also up, rollout, rollback, down; "
            "admin: also tokens.",
        ),
    ],
    name: Annotated[str | None, typer.Option("--name", help="A unique name (default: token-<id>).")] = None,
    json_output: JsonFlag = False,
    server: ServerOption = None,
) -> int:
    """Create a token and print its secret (only this once: the engine keeps just its sha256)."""
    from mooring.cli.output import err, print_json

    created = engine_client(server).post("/v1/tokens", {"scope": scope.value, "name": name})
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
            t["scope"],
            when(t["created_at"]),
            when(t["last_used_at"]),
            when(t["revoked_at"]),
        ]
        for t in rows
    ]
    out.print(text_table(["ID", "NAME", "SCOPE", "CREATED", "LAST USED", "REVOKED"], cells), markup=False)
    return 0


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
