"""``rollout``, ``rollback``, ``history`` and ``status``: the operator's levers on releases."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mooring.cli.connect import AppOption, ServerOption, engine_client, resolve_app
from mooring.cli.options import JsonFlag

FileOption = Annotated[str, typer.Option("--file", "-f", envvar="MOORING_FILE", help="Path of the manifest.")]


def register(app: typer.Typer) -> None:
    app.command()(rollout)
    app.command()(rollback)
    app.command()(history)
    app.command()(status)


def rollout(
    action: Annotated[str, typer.Argument(help="pause, resume or cancel")],
    app: AppOption = None,
    file: FileOption = "mooring.toml",
    json_output: JsonFlag = False,
    server: ServerOption = None,
) -> int:
    """Pause, resume or cancel the app's release in progress (resume retries failed targets)."""
    from mooring.cli.outcome import exit_code, follow, outcome_line
    from mooring.cli.output import out, print_json
    from mooring.errors import UsageError

    if action not in ("pause", "resume", "cancel"):
        raise UsageError(
            f"unknown rollout action {action!r}", hint="use: mooring rollout pause|resume|cancel"
        )
    name = resolve_app(app, file)
    client = engine_client(server)
    release = client.post(f"/v1/apps/{name}/rollout/{action}")
    if action == "resume":
        release = follow(client, release["id"])
    if json_output:
        print_json(release)
    else:
        out.print(outcome_line(release), markup=False)
    return exit_code(release) if action == "resume" else 0


def rollback(
    app: AppOption = None,
    file: FileOption = "mooring.toml",
    release: Annotated[str | None, typer.Option("--release", help="Release id to restore.")] = None,
    json_output: JsonFlag = False,
    server: ServerOption = None,
) -> int:
    """Restore the previous successful release (or --release ID) as a new, gated release."""
    from mooring.cli.outcome import exit_code, follow, outcome_line
    from mooring.cli.output import out, print_json

    name = resolve_app(app, file)
    client = engine_client(server)
    created = client.post(f"/v1/apps/{name}/rollback", {"release_id": release})
    if not json_output:
        out.print(f"release {created['id']}: rollback to {created['source_release_id']}", markup=False)
    final = follow(client, created["id"])
    if json_output:
        print_json(final)
    else:
        out.print(outcome_line(final), markup=False)
    return exit_code(final)


def history(
    app: AppOption = None,
    file: FileOption = "mooring.toml",
    limit: Annotated[int, typer.Option(help="How many releases.")] = 20,
    json_output: JsonFlag = False,
    server: ServerOption = None,
) -> int:
    """The app's releases, newest first."""
    from mooring.cli.output import out, print_json
    from mooring.cli.tables import text_table

    name = resolve_app(app, file)
    rows = engine_client(server).get(f"/v1/apps/{name}/releases", limit=limit)
    if json_output:
        print_json(rows)
        return 0
    cells = [
        [
            str(r["number"]),
            r["id"],
            r["trigger"],
            r["status"],
            r["rollout"]["state"],
            r["source_release_id"] or "-",
            r["created_at"][:19],
            r["message"],
        ]
        for r in rows
    ]
    out.print(
        text_table(["#", "RELEASE", "TRIGGER", "STATUS", "ROLLOUT", "SOURCE", "CREATED", "MESSAGE"], cells),
        markup=False,
    )
    return 0


def status(
    app: AppOption = None,
    file: FileOption = "mooring.toml",
    json_output: JsonFlag = False,
    server: ServerOption = None,
) -> int:
    """The app's current release, its rollout and its targets."""
    from mooring.cli.output import out, print_json
    from mooring.cli.tables import text_table

    name = resolve_app(app, file)
    client = engine_client(server)
    rows = client.get(f"/v1/apps/{name}/releases", limit=1)
    if not rows:
        out.print(f"app {name}: no releases yet")
        return 0
    release = client.get(f"/v1/releases/{rows[0]['id']}")
    if json_output:
        print_json(release)
        return 0
    t = release["rollout"]["targets"]
    out.print(
        f"app {name}  release {release['id']} (#{release['number']})  {release['status']}  "
        f"rollout {release['rollout']['state']}  control {release['rollout']['control']}",
        markup=False,
    )
    out.print(
        f"targets: {t['ready']} ready, {t['failed']} failed, {t['left']} left, {t['unchanged']} unchanged, "
        f"{t['removed']} removed",
        markup=False,
    )
    out.print(f"message: {release['message']}", markup=False)
    cells = [
        [
            x["target"],
            x["action"],
            x["state"],
            x["reason"] or "-",
            str(x["batch"]),
            x["instance_id"] or "-",
            x["detail"],
        ]
        for x in release["targets"]
    ]
    out.print(
        text_table(["TARGET", "ACTION", "STATE", "REASON", "BATCH", "INSTANCE", "DETAIL"], cells),
        markup=False,
    )
    print_proxy(client.get(f"/v1/apps/{name}/proxy")["services"])
    return 0


def print_proxy(services: list[dict[str, Any]]) -> None:
    """The published ports: per service and per instance, connections, bytes and errors."""
    from mooring.cli.output import out
    from mooring.cli.tables import human_bytes, text_table

    if not services:
        return
    cells = []
    for svc in services:
        listen = ",".join(lst["address"] for lst in svc["listeners"]) or "-"
        rows = [(svc["service"], listen, svc["counters"])]
        rows += [
            (f"  {i['id']}", (i["upstream"] or "-") + ("" if i["serving"] else " (draining)"), i["counters"])
            for i in svc["instances"]
        ]
        for name, where, c in rows:
            cells.append(
                [
                    name,
                    where,
                    str(c["connections"]),
                    str(c["active"]),
                    human_bytes(c["bytes_in"]),
                    human_bytes(c["bytes_out"]),
                    str(c["errors"]),
                ]
            )
    out.print("proxy:", markup=False)
    out.print(
        text_table(["SERVICE/INSTANCE", "ADDRESS", "CONNS", "ACTIVE", "IN", "OUT", "ERRORS"], cells),
        markup=False,
    )
