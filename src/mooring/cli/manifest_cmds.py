"""``validate``, ``init`` and ``schema``: commands about the manifest file itself."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from mooring.cli.options import JsonFlag, ManifestFile


def register(app: typer.Typer) -> None:
    app.command()(validate)
    app.command()(init)
    app.command()(schema)


def validate(
    file: ManifestFile = "mooring.toml",
    json_output: JsonFlag = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No output; the exit code says it all.")
    ] = False,
) -> int:
    """Check a manifest. Exit 0 when valid, 2 when not; every problem is listed with its key path."""
    from mooring.cli.output import out, print_error, print_json, print_warning
    from mooring.manifest import ManifestError, load_manifest
    from mooring.manifest.snapshot import build_snapshot

    try:
        loaded = load_manifest(file)
    except ManifestError as exc:
        if json_output:
            print_json(
                {"valid": False, "file": file, "errors": [i.to_dict() for i in exc.issues], "warnings": []}
            )
        elif not quiet:
            for issue in exc.issues:
                print_error(issue.render())
        return exc.exit_code
    manifest = loaded.manifest
    summary = manifest_summary(manifest)
    if json_output:
        print_json(
            {
                "valid": True,
                "file": file,
                "app": manifest.app_name,
                "manifest_hash": build_snapshot(manifest).hash,
                **summary,
                "errors": [],
                "warnings": [w.to_dict() for w in loaded.warnings],
            }
        )
    elif not quiet:
        for warning in loaded.warnings:
            print_warning(warning.render())
        instances = sum(s.replicas for s in manifest.service.values())
        out.print(
            f"{file} is valid: app {manifest.app_name}, {len(manifest.service)} services "
            f"({instances} instances), {len(manifest.worker)} workers, {len(manifest.cron)} crons"
        )
    return 0


def manifest_summary(manifest: Any) -> dict[str, Any]:
    return {
        "services": sorted(manifest.service),
        "workers": sorted(manifest.worker),
        "crons": sorted(manifest.cron),
        "volumes": sorted(manifest.volume),
    }


def init(
    file: ManifestFile = "mooring.toml",
    name: Annotated[str | None, typer.Option(help="App name (default: the directory's name).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> int:
    """Write a commented starter manifest that validates as is."""
    from mooring.cli.output import out, print_error
    from mooring.manifest.fields import check_name
    from mooring.manifest.loader import default_app_name
    from mooring.manifest.starter import starter_manifest

    path = Path(file)
    if path.exists() and not force:
        print_error(f"{file} already exists", "edit it, or pass --force to overwrite it")
        return 1
    app_name = name or default_app_name(path.resolve().parent)
    try:
        check_name("app", app_name)
    except ValueError as exc:
        print_error(str(exc))
        return 1
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(starter_manifest(app_name), encoding="utf-8")
    tmp.replace(path)
    out.print(f"wrote {file} (app {app_name}); next: mooring validate -f {file}, then mooring up -f {file}")
    return 0


def schema() -> int:
    """Print the manifest's JSON Schema, for editor completion and CI checks."""
    from mooring.manifest.schema import manifest_json_schema

    print(json.dumps(manifest_json_schema(), indent=2))
    return 0
