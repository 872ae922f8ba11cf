"""``mooring images prune``: remove images only releases past retention reference (docs/images.md).

A host-local command like ``backup``: it reads this host's store and talks to its container engine.
"""

from __future__ import annotations

from typing import Annotated

import typer

from mooring.cli.options import JsonFlag


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Images that releases run.", no_args_is_help=True)
    group.command("prune")(prune)
    app.add_typer(group, name="images")


def prune(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be removed; remove nothing.")
    ] = False,
    keep: Annotated[
        int | None,
        typer.Option(
            "--keep", min=1, help="Releases kept per app (default: [releases] keep of engine.toml, else 10)."
        ),
    ] = None,
    json_output: JsonFlag = False,
) -> int:
    """Remove images that no retained release references (never those of the current or prev-ok release)."""
    from mooring.cli.output import out, print_json
    from mooring.images import prune_here

    count, retention, actions = prune_here(keep, dry_run=dry_run)
    if json_output:
        print_json(
            {
                "dry_run": dry_run,
                "keep": count,
                "retained": retention.retained,
                "kept_images": retention.kept_images,
                "images": [a.to_dict() for a in actions],
            }
        )
        return 0
    for app, why in sorted(retention.retained.items()):
        out.print(
            f"{app}: keeps {', '.join(f'{rid} ({reason})' for rid, reason in why.items())}", markup=False
        )
    if not actions:
        out.print("no image is referenced only by releases past retention", markup=False)
    for action in actions:
        verb = "would remove" if action.action == "remove" else action.action
        out.print(f"{action.image}: {verb} (releases {', '.join(action.releases)})", markup=False)
    return 0
