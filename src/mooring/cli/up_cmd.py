"""``mooring up``: apply the manifest as a release (``--dry-run`` prints the plan only)."""

from __future__ import annotations

from typing import Annotated

import typer

from mooring.cli.connect import engine_client
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
        return apply(loaded.manifest.app_name, snapshot, services, json_output)
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
    app: str, snapshot: Snapshot, services: list[str] | None, json_output: bool
) -> int:
    """Send the snapshot to the engine and report what came up."""
    from mooring.cli.output import out, print_json
    from mooring.cli.tables import instances_table

    client = engine_client()
    body = {"snapshot": snapshot.text, "secrets": dict(snapshot.secrets), "services": services or None}
    if not json_output:
        out.print(f"app {app}: applying {snapshot.hash[:19]} ...")
    result = client.post(f"/v1/apps/{app}/up", body)
    failed = result["failed"]
    if json_output:
        print_json(result)
    else:
        for failure in failed:
            out.print(f"[red]failed[/] {failure['instance']}: {failure['reason']}")
        instances_table(result["instances"])
        status = "failed" if failed else "completed"
        out.print(
            f"app {app} {status}: {len(result['started'])} started, {len(result['unchanged'])} unchanged, "
            f"{len(failed)} failed"
        )
    return 3 if failed else 0
