"""``mooring up``: apply the manifest as a release (``--dry-run`` prints the plan only)."""

from __future__ import annotations

from typing import Annotated

import typer

from mooring.cli.connect import ServerOption, engine_client
from mooring.cli.options import JsonFlag, ManifestFile
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
    server: ServerOption = None,
) -> int:
    """Apply the manifest: plan, roll out in health-gated batches, record the release."""
    from mooring.cli.output import print_json, print_warning
    from mooring.cli.plan_view import render_plan
    from mooring.errors import UsageError
    from mooring.manifest import load_manifest
    from mooring.manifest.snapshot import build_snapshot
    from mooring.release.plan import PlanError, make_plan

    loaded = load_manifest(file)
    for warning in loaded.warnings:
        print_warning(warning.render())
    snapshot = build_snapshot(loaded.manifest)
    if not dry_run:
        from mooring.manifest.durations import parse_duration

        try:
            wait_seconds = parse_duration(wait_lock) if wait_lock else None
        except ValueError as exc:
            raise UsageError(f"--wait-lock: {exc}") from None
        return apply(loaded.manifest.app_name, snapshot, services, json_output, detach, wait_seconds, server)
    try:
        plan = make_plan(snapshot.data, running=[], selected=services or None)
    except PlanError as exc:
        raise UsageError(str(exc), hint="list the services with: mooring validate --json") from None
    if json_output:
        print_json({"app": loaded.manifest.app_name, "manifest_hash": snapshot.hash, "plan": plan.to_dict()})
    else:
        render_plan(loaded.manifest.app_name, snapshot, plan)
    return 0


def apply(
    app: str,
    snapshot: Snapshot,
    services: list[str] | None,
    json_output: bool,
    detach: bool = False,
    wait_lock: float | None = None,
    server: str | None = None,
) -> int:
    """Send the snapshot to the engine as a release and follow it to its outcome."""
    from mooring.cli.outcome import exit_code, follow, outcome_line
    from mooring.cli.output import out, print_json

    client = engine_client(server)
    body = {
        "snapshot": snapshot.text,
        "secrets": dict(snapshot.secrets),
        "services": services or None,
        "wait_lock": wait_lock,
    }
    release = client.post(f"/v1/apps/{app}/releases", body)
    if not json_output:
        actions: dict[str, int] = {}
        for t in release["targets"]:
            actions[t["action"]] = actions.get(t["action"], 0) + 1
        summary = ", ".join(f"{n} {a}" for a, n in sorted(actions.items())) or "nothing to do"
        out.print(f"release {release['id']} (#{release['number']}) of {app}: {summary}", markup=False)
    if detach:
        if json_output:
            print_json(release)
        return 0
    seen: dict[str, str] = {}

    def progress(current: dict) -> None:  # type: ignore[type-arg]
        if json_output:
            return
        detail = client.get(f"/v1/releases/{current['id']}")
        for t in detail["targets"]:
            key = t["target"]
            if seen.get(key) != t["state"] and t["state"] not in ("pending", "skipped"):
                seen[key] = t["state"]
                why = f" ({t['reason']}: {t['detail']})" if t["reason"] and t["state"] == "failed" else ""
                out.print(f"  batch {t['batch']}  {key:<16} {t['state']}{why}", markup=False)

    try:
        final = follow(client, release["id"], progress)
    except KeyboardInterrupt:
        out.print(f"detached; the release goes on. Follow it with: mooring status --app {app}", markup=False)
        return 0
    if json_output:
        print_json(client.get(f"/v1/releases/{final['id']}"))
    else:
        out.print(outcome_line(final), markup=False)
    return exit_code(final)
