"""``apps``, ``status`` and ``history``: what the operator reads about apps and their releases."""

from __future__ import annotations

from typing import Annotated

import typer

from mooring.cli import reads
from mooring.cli.connect import AppOption, ServerOption
from mooring.cli.options import JsonFlag

FileOption = Annotated[str, typer.Option("--file", "-f", envvar="MOORING_FILE", help="Path of the manifest.")]


def register(app: typer.Typer) -> None:
    app.command()(apps)
    app.command()(status)
    app.command()(history)


def apps(
    status_filter: Annotated[
        str | None, typer.Option("--status", help="Only apps whose release status or rollout state is S.")
    ] = None,
    failed: Annotated[
        bool, typer.Option("--failed", help="Only failed or partially failed releases, or blocked/degraded.")
    ] = False,
    in_progress: Annotated[
        bool, typer.Option("--in-progress", help="Only releases pending or rolling out.")
    ] = False,
    json_output: JsonFlag = False,
    server: ServerOption = None,
) -> int:
    """Every app with its current release, rollout state, instances and last change."""
    return reads.apps(status_filter, failed, in_progress, json_output, server)


def status(
    app: AppOption = None,
    file: FileOption = "mooring.toml",
    explain: Annotated[
        bool, typer.Option("--explain", help="Why the release waits or failed, and what to run next.")
    ] = False,
    json_output: JsonFlag = False,
    server: ServerOption = None,
) -> int:
    """The app's current release, its rollout, targets and instances; --explain says why it waits."""
    return reads.status(app, file, explain, json_output, server)


def history(
    release: Annotated[str | None, typer.Argument(help="A release id: show its timeline of events.")] = None,
    app: AppOption = None,
    file: FileOption = "mooring.toml",
    limit: Annotated[int, typer.Option(help="How many releases per page.", min=1, max=500)] = 20,
    before: Annotated[
        str | None, typer.Option("--before", help="Page on: releases older than this id or number.")
    ] = None,
    json_output: JsonFlag = False,
    server: ServerOption = None,
) -> int:
    """The app's releases, newest first (MARK: current, prev-ok); with RELEASE, its event timeline."""
    return reads.history(release, app, file, limit, before, json_output, server)
