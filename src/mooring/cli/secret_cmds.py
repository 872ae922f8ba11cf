"""``mooring secret set|list|versions|rm|get|rotate-key`` and ``mooring audit`` (docs/secrets.md).

A value is read from stdin or ``--from-file``, never from the command line (argv is visible to every
user in ``ps`` and lands in shell history).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer

from mooring.cli.connect import AppOption, ServerOption, engine_client, resolve_app
from mooring.cli.options import JsonFlag, ManifestFile
from mooring.errors import UsageError

secret_app = typer.Typer(
    name="secret",
    help="An app's secrets, encrypted in the engine's store; manifests reference them by name.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(secret_app)
    app.command("audit")(audit)


def _path(app: str, name: str = "", tail: str = "") -> str:
    base = f"/v1/apps/{quote(app, safe='')}/secrets"
    return base + (f"/{quote(name, safe='')}" if name else "") + tail


def read_value(from_file: Path | None) -> str:
    """The value from ``--from-file`` or stdin, one trailing newline dropped (``echo`` adds it)."""
    if from_file is not None:
        try:
            data = from_file.read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read {from_file}: {exc.strerror}") from None
    else:
        if sys.stdin.isatty():
            raise UsageError(
                "give the value on stdin or with --from-file, never as an argument",
                hint="e.g. mooring secret set DB_PASSWORD < password.txt",
            )
        data = sys.stdin.buffer.read()
    text = data.decode("utf-8", errors="strict")
    return text[:-1] if text.endswith("\n") else text


@secret_app.command("set")
def set_secret(
    name: Annotated[str, typer.Argument(help="The secret's name, e.g. DB_PASSWORD.")],
    from_file: Annotated[
        Path | None, typer.Option("--from-file", help="Read the value from this file (default: stdin).")
    ] = None,
    app: AppOption = None,
    file: ManifestFile = "mooring.toml",
    json_output: JsonFlag = False,
    server: ServerOption = None,
) -> int:
    """Store a new version of a secret; `mooring up` then replaces the instances that use it."""
    from mooring.cli.output import out, print_json

    app_name = resolve_app(app, file)
    value = read_value(from_file)
    made = engine_client(server).post(_path(app_name, name), {"value": value})
    if json_output:
        print_json(made)
    else:
        out.print(
            f"secret {name} of app {app_name}: version {made['version']} stored (encrypted); "
            "run mooring up to roll it out",
            markup=False,
        )
    return 0


@secret_app.command("list")
def list_secrets(
    app: AppOption = None,
    file: ManifestFile = "mooring.toml",
    json_output: JsonFlag = False,
    server: ServerOption = None,
) -> int:
    """Names, newest versions, when and by whom changed, and which workloads use them (never values)."""
    from mooring.cli.output import out, print_json
    from mooring.cli.tables import text_table

    app_name = resolve_app(app, file)
    rows = engine_client(server).get(_path(app_name))
    if json_output:
        print_json(rows)
        return 0
    table = [
        [
            r["name"],
            f"v{r['version']}",
            str(r["versions"]),
            r["updated_at"][:19].replace("T", " "),
            r["updated_by"],
            ", ".join(f"{w} (v{r['used_version'][w]})" if w in r["used_version"] else w for w in r["used_by"])
            or "-",
        ]
        for r in rows
    ]
    out.print(text_table(["NAME", "VERSION", "KEPT", "UPDATED", "BY", "USED BY"], table), markup=False)
    return 0


@secret_app.command("versions")
def versions(
    name: Annotated[str, typer.Argument(help="The secret's name.")],
    app: AppOption = None,
    file: ManifestFile = "mooring.toml",
    json_output: JsonFlag = False,
    server: ServerOption = None,
) -> int:
    """Every kept version of a secret: number, when, by whom."""
    from mooring.cli.output import out, print_json
    from mooring.cli.tables import text_table

    rows = engine_client(server).get(_path(resolve_app(app, file), name, "/versions"))
    if json_output:
        print_json(rows)
        return 0
    table = [[f"v{r['version']}", r["created_at"][:19].replace("T", " "), r["created_by"]] for r in rows]
    out.print(text_table(["VERSION", "CREATED", "BY"], table), markup=False)
    return 0


@secret_app.command("rm")
def remove(
    name: Annotated[str, typer.Argument(help="The secret's name.")],
    app: AppOption = None,
    file: ManifestFile = "mooring.toml",
    json_output: JsonFlag = False,
    server: ServerOption = None,
) -> int:
    """Delete a secret and all its versions (refused while the latest release uses it)."""
    from mooring.cli.output import out, print_json

    app_name = resolve_app(app, file)
    done = engine_client(server).request("DELETE", _path(app_name, name))
    if json_output:
        print_json(done)
    else:
        out.print(
            f"secret {name} of app {app_name}: {done['removed_versions']} version(s) removed", markup=False
        )
    return 0


@secret_app.command("get")
def get(
    name: Annotated[str, typer.Argument(help="The secret's name.")],
    reveal: Annotated[bool, typer.Option("--reveal", help="Required: print the value (audited).")] = False,
    version: Annotated[int | None, typer.Option("--version", help="Default: the newest.")] = None,
    app: AppOption = None,
    file: ManifestFile = "mooring.toml",
    server: ServerOption = None,
) -> int:
    """Print a secret's value on stdout: needs --reveal, scope secrets:read remotely, and is audited."""
    if not reveal:
        raise UsageError("printing a secret's value needs --reveal (the read is recorded in the audit log)")
    params: dict[str, Any] = {"version": version} if version else {}
    answer = engine_client(server).get(_path(resolve_app(app, file), name, "/value"), **params)
    sys.stdout.write(answer["value"] + "\n")
    return 0


@secret_app.command("rotate-key")
def rotate_key(json_output: JsonFlag = False, server: ServerOption = None) -> int:
    """Re-encrypt every secret under a new key; services keep running."""
    from mooring.cli.output import out, print_json

    done = engine_client(server).post("/v1/secrets/rotate-key")
    if json_output:
        print_json(done)
    else:
        out.print(f"new key {done['key_id']}: {done['reencrypted']} value(s) re-encrypted", markup=False)
    return 0


def audit(
    app: Annotated[str | None, typer.Option("--app", help="Only entries about this app.")] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Only entries from this long ago (10m, 2h) or this ISO time."),
    ] = None,
    json_output: JsonFlag = False,
    server: ServerOption = None,
) -> int:
    """The audit log: who changed what through the API, from where, and how it ended."""
    from mooring.cli.output import out, print_json
    from mooring.cli.tables import text_table

    params: dict[str, Any] = {}
    if app:
        params["app"] = app
    if since:
        params["since"] = _since(since)
    rows = engine_client(server).get("/v1/audit", **params)
    if json_output:
        print_json(rows)
        return 0
    table = [
        [
            r["at"][:19].replace("T", " "),
            r["actor"],
            r["source"],
            r["action"],
            r["outcome"] + (f" {r['status']}" if r["status"] else ""),
            r["detail"] or "-",
        ]
        for r in rows
    ]
    out.print(text_table(["WHEN", "WHO", "FROM", "WHAT", "OUTCOME", "DETAIL"], table), markup=False)
    return 0


def _since(text: str) -> str:
    from datetime import UTC, datetime, timedelta

    from mooring.manifest.durations import parse_duration

    try:
        return (datetime.now(UTC) - timedelta(seconds=parse_duration(text))).isoformat()
    except ValueError:
        try:
            return datetime.fromisoformat(text).isoformat()
        except ValueError:
            raise UsageError(f"--since {text!r} is neither a duration (10m) nor an ISO time") from None
