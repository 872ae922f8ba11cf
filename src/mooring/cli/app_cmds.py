"""``apps``, ``status`` and ``history``: what the operator reads about apps and their releases."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mooring.cli.connect import AppOption, ServerOption, engine_client, resolve_app
from mooring.cli.options import JsonFlag

FileOption = Annotated[str, typer.Option("--file", "-f", envvar="MOORING_FILE", help="Path of the manifest.")]
FAILED_STATUSES = {"failed", "partially_failed"}
FAILED_STATES = {"blocked", "degraded", "failed"}
IN_PROGRESS_STATUSES = {"pending", "in_progress"}
IN_PROGRESS_STATES = {"pending", "starting", "rolling", "verifying"}


def register(app: typer.Typer) -> None:
    app.command()(apps)
    app.command()(status)
    app.command()(history)


def matches(row: dict[str, Any], status: str | None, failed: bool, in_progress: bool) -> bool:
    """The ``apps`` filters: --status matches the status or the rollout state."""
    rel = row["current_release"]
    if rel is None:
        return not (status or failed or in_progress)
    st, state = rel["status"], rel["rollout"]["state"]
    if status and status not in (st, state):
        return False
    if failed and not (st in FAILED_STATUSES or state in FAILED_STATES):
        return False
    return not (in_progress and not (st in IN_PROGRESS_STATUSES or state in IN_PROGRESS_STATES))


def targets_cell(rollout: dict[str, Any]) -> str:
    from mooring.cli.counts import targets_phrase

    return targets_phrase(rollout)


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
    from mooring.cli.output import out, print_json
    from mooring.cli.tables import text_table

    rows = [
        r for r in engine_client(server).get("/v1/apps") if matches(r, status_filter, failed, in_progress)
    ]
    if json_output:
        print_json(rows)
        return 0
    if not rows:
        out.print(
            "no apps found" + (" matching the filter" if status_filter or failed or in_progress else "")
        )
        return 0
    cells = []
    for r in rows:
        rel, prev = r["current_release"], r["previous_successful_release"]
        cells.append(
            [
                r["app"],
                rel["id"] if rel else "-",
                rel["status"] if rel else "-",
                "down" if r.get("down") else rel["rollout"]["state"] if rel else "-",
                rel["rollout"]["control"] if rel else "-",
                targets_cell(rel["rollout"]) if rel else "-",
                f"{r['instances']['healthy']}/{r['instances']['total']}",
                prev["id"] if prev else "-",
                r["updated_at"][:19],
                (rel["message"] if rel else "")[:60],
            ]
        )
    headers = [
        "APP",
        "RELEASE",
        "STATUS",
        "ROLLOUT",
        "CTRL",
        "TARGETS",
        "HEALTHY",
        "PREV OK",
        "UPDATED",
        "MESSAGE",
    ]
    out.print(text_table(headers, cells), markup=False)
    return 0


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
    from mooring.cli.output import print_json
    from mooring.cli.status_view import print_proxy, print_routes, render_explain, render_status

    name = resolve_app(app, file)
    client = engine_client(server)
    # an unknown app is an error (exit 10) naming the apps there are, not an empty answer
    data = client.get(f"/v1/apps/{name}/explain" if explain else f"/v1/apps/{name}/status")
    if json_output:
        print_json(data)
    elif explain:
        render_explain(data)
    else:
        render_status(data)
        proxy = client.get(f"/v1/apps/{name}/proxy")
        print_proxy(proxy["services"])
        print_routes(proxy["services"], proxy.get("maintenance") or {})
    return 0


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
    from mooring.cli.output import err, out, print_json
    from mooring.cli.status_view import history_table, timeline_lines

    client = engine_client(server)
    if release:
        events = client.get(f"/v1/releases/{release}/events")
        if json_output:
            print_json(events)
        else:
            for line in timeline_lines(events):
                out.print(line, markup=False)
        return 0
    name = resolve_app(app, file)
    before_number = None
    if before:
        before_number = int(before) if before.isdigit() else client.get(f"/v1/releases/{before}")["number"]
    rows = client.get(f"/v1/apps/{name}/releases", limit=limit, before=before_number)
    if json_output:
        print_json(rows)
        return 0
    if not rows:
        out.print(f"no releases found for app {name}" + (" before that one" if before else ""), markup=False)
        return 0
    out.print(history_table(rows), markup=False)
    if len(rows) == limit and rows[-1]["number"] > 1:
        err.print(f"older releases: mooring history --app {name} --before {rows[-1]['number']}", markup=False)
    return 0
