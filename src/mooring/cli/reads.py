"""``ps``, ``apps``, ``status``, ``history`` and ``logs``: what the operator reads most, rendered here.

The typer commands (engine_cmds.py, app_cmds.py) and the fast path (fast.py) both call these, so a
command prints the same bytes and exits with the same code whichever way it was parsed. Nothing here
imports typer, rich (plain.py prints) or httpx (a local engine is reached over the standard library).
"""

from __future__ import annotations

import sys
from typing import Any

from mooring.cli.counts import targets_phrase
from mooring.cli.plain import echo, print_json
from mooring.cli.reach import engine_client, reject_manifest_paths, resolve_app
from mooring.cli.tables import instances_table, text_table

FAILED_STATUSES = {"failed", "partially_failed"}
FAILED_STATES = {"blocked", "degraded", "failed"}
IN_PROGRESS_STATUSES = {"pending", "in_progress"}
IN_PROGRESS_STATES = {"pending", "starting", "rolling", "verifying"}
APPS_COLUMNS = [
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


def ps(app: str | None, json_output: bool, server: str | None, wide: bool = False) -> int:
    rows = engine_client(server).get("/v1/instances", app=app)
    if json_output:
        print_json(rows)
    else:
        instances_table(rows, wide)
    return 0


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


def apps(
    status_filter: str | None, failed: bool, in_progress: bool, json_output: bool, server: str | None
) -> int:
    rows = [
        r for r in engine_client(server).get("/v1/apps") if matches(r, status_filter, failed, in_progress)
    ]
    if json_output:
        print_json(rows)
        return 0
    if not rows:
        echo("no apps found" + (" matching the filter" if status_filter or failed or in_progress else ""))
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
                targets_phrase(rel["rollout"]) if rel else "-",
                f"{r['instances']['healthy']}/{r['instances']['total']}",
                prev["id"] if prev else "-",
                r["updated_at"][:19],
                (rel["message"] if rel else "")[:60],
            ]
        )
    echo(text_table(APPS_COLUMNS, cells))
    return 0


def status(app: str | None, file: str, explain: bool, json_output: bool, server: str | None) -> int:
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
    release: str | None,
    app: str | None,
    file: str,
    limit: int,
    before: str | None,
    json_output: bool,
    server: str | None,
) -> int:
    from mooring.cli.status_view import history_table, timeline_lines

    client = engine_client(server)
    if release:
        events = client.get(f"/v1/releases/{release}/events")
        if json_output:
            print_json(events)
        else:
            for line in timeline_lines(events):
                echo(line)
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
        echo(f"no releases found for app {name}" + (" before that one" if before else ""))
        return 0
    echo(history_table(rows))
    if len(rows) == limit and rows[-1]["number"] > 1:
        echo(f"older releases: mooring history --app {name} --before {rows[-1]['number']}", stderr=True)
    return 0


def logs(
    target: str | None,
    follow: bool,
    tail: int | None,
    since: str | None,
    release: str | None,
    app: str | None,
    file: str,
    server: str | None,
) -> int:
    import time

    from mooring.errors import UsageError

    reject_manifest_paths([target] if target else None, "a SERVICE or INSTANCE")
    name = resolve_app(app, file)
    since_ts = None
    if since:
        from mooring.manifest.durations import parse_duration

        try:
            since_ts = time.time() - parse_duration(since)
        except ValueError as exc:
            raise UsageError(f"--since: {exc}") from None
    from mooring.client.log_follow import follow_logs

    client = engine_client(server)
    path = f"/v1/apps/{name}/logs"
    query = {"target": target, "tail": tail, "since": since_ts, "release": release}
    # a follow outlives a lost remote engine: it reconnects and resumes after the last line printed
    lines = follow_logs(client, path, **query, follow=True) if follow else client.stream_lines(path, **query)
    try:
        for line in lines:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
    except KeyboardInterrupt:
        pass
    return 0
