"""Printing for the CLI: one console for results, one for diagnostics, JSON the same way everywhere."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.markup import escape

from mooring.cli.plain import print_json as print_json  # one JSON printer, rich-free for the hot commands
from mooring.errors import MooringError

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def print_error(message: str, hint: str | None = None) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", markup=True)
    if hint:
        err.print(f"[dim]hint:[/] {escape(hint)}", markup=True)


def print_warning(message: str) -> None:
    err.print(f"[yellow]warning:[/] {escape(message)}", markup=True)


def report(exc: MooringError) -> int:
    """Print a MooringError (every issue of an invalid manifest) and return its exit code."""
    # A ManifestError exists only if its module was imported: not importing it (and pydantic with
    # the manifest package) keeps an API error of a hot command cheap.
    manifest_errors = sys.modules.get("mooring.manifest.errors")
    if manifest_errors is not None and isinstance(exc, manifest_errors.ManifestError):
        for issue in exc.issues:
            print_error(issue.render())
    else:
        print_error(exc.message, exc.hint)
    return exc.exit_code
