"""``mooring import compose``: write a mooring.toml from Compose files, with a report (docs/compose.md)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from mooring.cli.options import JsonFlag


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Write a mooring.toml from another tool's files.", no_args_is_help=True)
    group.command("compose")(compose)
    app.add_typer(group, name="import")


def compose(
    files: Annotated[
        list[Path] | None,
        typer.Argument(help="Compose files, merged in order (default: compose.yaml and its override here)."),
    ] = None,
    output: Annotated[
        str, typer.Option("--output", "-o", help="Where to write the manifest; - for stdout.")
    ] = "mooring.toml",
    profile: Annotated[
        list[str] | None, typer.Option("--profile", help="Activate a Compose profile (repeatable).")
    ] = None,
    env_file: Annotated[
        list[Path] | None, typer.Option("--env-file", help="Read variables from this file instead of .env.")
    ] = None,
    project_name: Annotated[
        str | None,
        typer.Option("--project-name", "-p", help="The app's name (default: Compose's project name)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing output file.")] = False,
    json_output: JsonFlag = False,
) -> int:
    """Translate Compose files into a commented mooring.toml and report every key it could not map.

    Exit 0 when the manifest was written and validates, 2 when the Compose input is invalid or the
    result does not validate (the report names the key), 1 on a usage problem.
    """
    from mooring.cli.output import print_error, print_json
    from mooring.compose import ComposeError, import_compose
    from mooring.manifest import ManifestError, load_manifest_text

    to_stdout = output == "-"
    target = Path(output)
    if to_stdout and json_output:
        print_error("--json prints the report on stdout; write the manifest to a file with -o FILE")
        return 1
    if not to_stdout and target.exists() and not force:
        print_error(f"{output} already exists", "pass --force to overwrite it, or -o ANOTHER.toml")
        return 1
    out_dir = Path.cwd() if to_stdout else target.absolute().parent
    try:
        result = import_compose(
            files or [], out_dir, profiles=profile or [], env_files=env_file or [], project_name=project_name
        )
    except ComposeError as exc:
        if json_output:
            print_json(
                {"written": False, "valid": False, "error": str(exc), "findings": [], "manifest_errors": []}
            )
        else:
            print_error(str(exc))
        return 2
    manifest_errors: list[dict[str, Any]] = []
    try:
        load_manifest_text(result.text, file="-" if to_stdout else output, base_dir=out_dir, environ={})
    except ManifestError as exc:
        manifest_errors = [issue.to_dict() for issue in exc.issues]
    if to_stdout:
        typer.echo(result.text, nl=False)
    else:
        target.write_text(result.text, encoding="utf-8")
    valid = not manifest_errors and not result.has_errors
    if json_output:
        print_json(
            {
                "written": not to_stdout and output,
                "valid": valid,
                **result.to_dict(),
                "manifest_errors": manifest_errors,
            }
        )
    else:
        _report(result, manifest_errors, None if to_stdout else output)
    return 0 if valid else 2


def _report(result: Any, manifest_errors: list[dict[str, Any]], output: str | None) -> None:
    from mooring.cli.output import err

    for finding in result.findings:
        shown = os.path.relpath(finding.file)
        line = finding.line() if shown.startswith("..") else finding.line().replace(finding.file, shown, 1)
        err.print(line, markup=False, highlight=False)
    for issue in manifest_errors:
        err.print(f"{issue['file']}: {issue['key']}: error: {issue['message']}", markup=False)
    counts = {
        s: sum(1 for f in result.findings if f.severity == s)
        for s in ("error", "unmapped", "changed", "info")
    }
    what = f"{len(result.services)} services, {len(result.workers)} workers, {len(result.volumes)} volumes"
    tally = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "every key mapped"
    where = f"wrote {output}" if output else "printed the manifest"
    verdict = (
        "validates"
        if not manifest_errors and not counts["error"]
        else "does NOT validate: fix the errors above"
    )
    err.print(f"{where} (app {result.app}: {what}); {tally}; it {verdict}", markup=False)
