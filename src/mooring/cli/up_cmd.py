"""``mooring up``: apply the manifest as a release and follow it (``--dry-run`` prints the plan only)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from mooring.cli.connect import ServerOption, engine_client
from mooring.cli.options import JsonFlag, ManifestFile, reject_manifest_paths

if TYPE_CHECKING:  # the CLI imports only what a command needs, when it runs
    from mooring.client import Client
    from mooring.manifest.snapshot import Snapshot


def register(app: typer.Typer) -> None:
    app.command()(up)


def up(
    services: Annotated[
        list[str] | None, typer.Argument(help="Only these services (and their dependencies).")
    ] = None,
    file: ManifestFile = "mooring.toml",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan; change nothing.")] = False,
    json_output: JsonFlag = False,
    detach: Annotated[bool, typer.Option("--detach", help="Return once the release is recorded.")] = False,
    wait_lock: Annotated[
        str | None, typer.Option("--wait-lock", help="Wait this long (e.g. 2m) for another apply to finish.")
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Replace the instances of SERVICE... (default: all) even if nothing changed."
        ),
    ] = False,
    server: ServerOption = None,
) -> int:
    """Apply the manifest: plan, roll out in health-gated batches, record the release."""
    from mooring.cli.output import print_warning
    from mooring.errors import UsageError
    from mooring.manifest import load_manifest
    from mooring.manifest.snapshot import build_snapshot

    reject_manifest_paths(services, "a SERVICE")
    loaded = load_manifest(file)
    for warning in loaded.warnings:
        print_warning(warning.render())
    snapshot = build_snapshot(loaded.manifest)
    if dry_run:
        return dry_run_plan(loaded.manifest.app_name, snapshot, services, json_output, server)
    from mooring.manifest.durations import parse_duration

    try:
        wait_seconds = parse_duration(wait_lock) if wait_lock else None
    except ValueError as exc:
        raise UsageError(f"--wait-lock: {exc}") from None
    return apply(
        loaded.manifest.app_name, snapshot, services, json_output, detach, wait_seconds, server, force
    )


def dry_run_plan(
    app: str, snapshot: Snapshot, services: list[str] | None, json_output: bool, server: str | None
) -> int:
    """Ask the engine for the plan (writes nothing); with no local engine, plan against an empty host."""
    from mooring.cli.output import print_json
    from mooring.cli.plan_view import render_plan

    client = engine_client(server) if server else _running_local_engine()
    if client is not None:
        plan = client.post(f"/v1/apps/{app}/plan", {"snapshot": snapshot.text, "services": services or None})
    else:
        from mooring.errors import UsageError
        from mooring.release.plan import PlanError
        from mooring.release.preview import preview

        try:
            plan = preview(
                app, snapshot.data, snapshot.hash, running=[], selected=services, against="empty_host"
            )
        except PlanError as exc:
            raise UsageError(str(exc), hint="list the services with: mooring validate --json") from None
    if json_output:
        print_json(plan)
    else:
        render_plan(plan)
    return 0


def _running_local_engine() -> Client | None:
    """The local engine if one answers; a dry run never starts one."""
    from mooring.client.autostart import local_client
    from mooring.errors import EngineUnreachable
    from mooring.paths import mooring_home

    try:
        return local_client(mooring_home(), autostart=False)
    except EngineUnreachable:
        return None


def apply(
    app: str,
    snapshot: Snapshot,
    services: list[str] | None,
    json_output: bool,
    detach: bool = False,
    wait_lock: float | None = None,
    server: str | None = None,
    force: bool = False,
) -> int:
    """Send the snapshot to the engine as a release and follow it to its outcome."""
    from mooring.cli.output import out, print_json

    client = engine_client(server)
    body = {
        "snapshot": snapshot.text,
        "secrets": dict(snapshot.secrets),
        "services": services or None,
        "wait_lock": wait_lock,
        "force": force,
    }
    release = client.post(f"/v1/apps/{app}/releases", body)
    if release.get("nothing_to_do"):
        return nothing_to_do(release, json_output)
    if not json_output:
        out.print(plan_summary(release), markup=False)
    if detach:
        if json_output:
            print_json(release)
        else:
            out.print(f"detached; follow it with: mooring status --app {app}", markup=False)
        return 0
    return follow_to_outcome(client, release, json_output)


def nothing_to_do(answer: dict[str, Any], json_output: bool) -> int:
    """No release was recorded: say which one is current (exit 0: the app already is as asked)."""
    from mooring.cli.output import out, print_json

    if json_output:
        print_json(answer)
    else:
        out.print(answer["message"], markup=False)
    return 0


def plan_summary(release: dict[str, Any]) -> str:
    actions: dict[str, int] = {}
    for t in release["targets"]:
        actions[t["action"]] = actions.get(t["action"], 0) + 1
    summary = ", ".join(f"{n} {a}" for a, n in sorted(actions.items())) or "nothing to do"
    return (
        f"release {release['id']} (#{release['number']}) of {release['app']}: {release['scope']}, {summary}"
    )


def follow_to_outcome(client: Client, release: dict[str, Any], json_output: bool) -> int:
    """Progress lines, then the outcome line (or the release JSON); the exit code says the outcome.

    Ctrl-C detaches: the engine carries on with the release.
    """
    from mooring.cli.outcome import exit_code, follow, outcome_line
    from mooring.cli.output import out, print_json
    from mooring.cli.progress import watch_release

    try:
        if not json_output:
            watch_release(client, release, live=out.is_terminal)
        final = follow(client, release["id"])
    except KeyboardInterrupt:
        from mooring.cli.output import err

        (err if json_output else out).print(  # stdout stays valid JSON (here: empty) with --json
            f"\ndetached; release {release['id']} goes on. Follow it with: mooring status --app {release['app']}",
            markup=False,
        )
        return 0
    if json_output:
        print_json(client.get(f"/v1/releases/{final['id']}"))
    else:
        out.print(outcome_line(final), markup=False)
    return exit_code(final)
