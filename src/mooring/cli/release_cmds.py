"""``rollout`` and ``rollback``: the operator's levers on releases."""

from __future__ import annotations

from typing import Annotated

import typer

from mooring.cli.connect import AppOption, ServerOption, engine_client, resolve_app
from mooring.cli.options import JsonFlag, ManifestFile, reject_manifest_paths

FileOption = ManifestFile


def register(app: typer.Typer) -> None:
    app.command()(rollout)
    app.command()(rollback)
    app.command()(restart)
    app.command()(maintenance)


def rollout(
    action: Annotated[str, typer.Argument(help="pause, resume or cancel")],
    app: AppOption = None,
    file: FileOption = "mooring.toml",
    json_output: JsonFlag = False,
    detach: Annotated[
        bool, typer.Option("--detach", help="resume: return once the engine took it; don't follow it.")
    ] = False,
    server: ServerOption = None,
) -> int:
    """Pause, resume or cancel the app's release in progress (resume retries failed targets)."""
    from mooring.cli.outcome import outcome_line
    from mooring.cli.output import out, print_json
    from mooring.cli.up_cmd import follow_to_outcome
    from mooring.errors import UsageError

    if action not in ("pause", "resume", "cancel"):
        raise UsageError(
            f"unknown rollout action {action!r}", hint="use: mooring rollout pause|resume|cancel"
        )
    name = resolve_app(app, file)
    client = engine_client(server)
    release = client.post(f"/v1/apps/{name}/rollout/{action}")
    if action == "resume":
        if not json_output:
            out.print(f"release {release['id']} resumed", markup=False)
        if detach:
            if json_output:
                print_json(release)
            else:
                out.print(f"detached; follow it with: mooring status --app {name}", markup=False)
            return 0
        return follow_to_outcome(client, release, json_output)
    if json_output:
        print_json(release)
    else:
        out.print(outcome_line(release), markup=False)
    return 0  # the command did what was asked; `status` tells the outcome


def rollback(
    app: AppOption = None,
    file: FileOption = "mooring.toml",
    release: Annotated[str | None, typer.Option("--release", help="Release id to restore.")] = None,
    print_only: Annotated[
        bool,
        typer.Option("--print", help="Show which release would be restored and the plan; change nothing."),
    ] = False,
    json_output: JsonFlag = False,
    server: ServerOption = None,
) -> int:
    """Restore the previous successful release (or --release ID) as a new, gated release."""
    from mooring.cli.output import out, print_json
    from mooring.cli.up_cmd import follow_to_outcome

    name = resolve_app(app, file)
    client = engine_client(server)
    if print_only:
        preview = client.get(f"/v1/apps/{name}/rollback/preview", release_id=release)
        if json_output:
            print_json(preview)
            return 0
        from mooring.cli.plan_view import render_plan

        source = preview["source_release"]
        out.print(
            f"rollback of app {name} would restore release {source['id']} (#{source['number']}, "
            f"{source['status']}, created {source['created_at'][:19]}, {source['manifest_hash'][:19]})",
            markup=False,
        )
        out.print(f"why: {preview['reason']}", markup=False)
        render_plan(preview["plan"])
        out.print("nothing was changed; run it with: mooring rollback --app " + name, markup=False)
        return 0
    created = client.post(f"/v1/apps/{name}/rollback", {"release_id": release})
    if created.get("nothing_to_do"):
        from mooring.cli.up_cmd import nothing_to_do

        return nothing_to_do(created, json_output)
    if not json_output:
        out.print(
            f"release {created['id']} (#{created['number']}): rollback to {created['source_release_id']}",
            markup=False,
        )
    return follow_to_outcome(client, created, json_output)


def restart(
    services: Annotated[list[str] | None, typer.Argument(help="Services to restart (default: all).")] = None,
    app: AppOption = None,
    file: FileOption = "mooring.toml",
    json_output: JsonFlag = False,
    server: ServerOption = None,
) -> int:
    """Replace the instances of SERVICE... as a recorded release (trigger restart), gated like up."""
    from mooring.cli.output import out
    from mooring.cli.up_cmd import follow_to_outcome, nothing_to_do, plan_summary

    reject_manifest_paths(services, "a SERVICE")
    name = resolve_app(app, file)
    client = engine_client(server)
    created = client.post(f"/v1/apps/{name}/restart", {"services": services or None})
    if created.get("nothing_to_do"):
        return nothing_to_do(created, json_output)
    if not json_output:
        out.print(plan_summary(created), markup=False)
    return follow_to_outcome(client, created, json_output)


def maintenance(
    action: Annotated[str, typer.Argument(help="on or off")],
    app: AppOption = None,
    file: FileOption = "mooring.toml",
    message: Annotated[
        str | None, typer.Option("--message", help="on: the text of the 503 page (default: a generic one).")
    ] = None,
    json_output: JsonFlag = False,
    server: ServerOption = None,
) -> int:
    """Maintenance mode: the app's HTTP routes answer 503 with a page and Retry-After (workers run on)."""
    from mooring.cli.output import out, print_json
    from mooring.errors import UsageError

    if action not in ("on", "off"):
        raise UsageError(
            f"unknown maintenance action {action!r}", hint="use: mooring maintenance on|off --app APP"
        )
    if message is not None and action == "off":
        raise UsageError("--message goes with `maintenance on`", hint="mooring maintenance off --app APP")
    name = resolve_app(app, file)
    state = engine_client(server).post(
        f"/v1/apps/{name}/maintenance", {"on": action == "on", "message": message}
    )
    if json_output:
        print_json(state)
    elif state["maintenance"]:
        out.print(f"app {name} is in maintenance: its routes answer 503 ({state['message']})", markup=False)
    else:
        out.print(f"app {name} serves its routes again", markup=False)
    return 0
