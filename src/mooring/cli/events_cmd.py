"""``mooring events``: the app's event log, and with -f its live stream; resumable with --since."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from mooring.cli.connect import AppOption, ServerOption, engine_client, resolve_app
from mooring.cli.options import FollowFlag, JsonFlag, ManifestFile

FileOption = ManifestFile
RECONNECT_FOR = 30.0  # seconds a follower keeps trying to get back to a lost engine


def register(app: typer.Typer) -> None:
    app.command()(events)


def events(
    app: AppOption = None,
    file: FileOption = "mooring.toml",
    follow: FollowFlag = False,
    since: Annotated[
        int, typer.Option("--since", min=0, help="Start after this event number (app_seq).")
    ] = 0,
    json_output: JsonFlag = False,
    server: ServerOption = None,
) -> int:
    """The app's events, oldest first: one per line (--json: one JSON object per line)."""
    import json

    from mooring.cli.output import err, out
    from mooring.cli.status_view import event_line
    from mooring.client.events import KEEPALIVE, app_events
    from mooring.errors import EngineUnreachable

    name = resolve_app(app, file)
    client = engine_client(server)
    last = since
    lost_at: float | None = None
    while True:
        try:
            for event in app_events(client, name, since=last, follow=follow):
                lost_at = None
                if event is KEEPALIVE:
                    continue
                last = event["app_seq"]
                if json_output:
                    out.file.write(json.dumps(event) + "\n")
                    out.file.flush()
                else:
                    out.print(event_line(event), markup=False)
            return 0
        except KeyboardInterrupt:  # how a follower stops
            return 0
        except EngineUnreachable:
            # resume after the last event printed: no gap, no duplicate
            if not follow:
                raise
            now = time.monotonic()
            lost_at = lost_at or now
            if now - lost_at > RECONNECT_FOR:
                raise
            err.print(f"lost the engine; reconnecting after event #{last}", style="dim")
            time.sleep(1.0)
