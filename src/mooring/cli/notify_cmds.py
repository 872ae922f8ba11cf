"""``mooring notify log``: the engine's webhook deliveries and their attempts (docs/notify.md)."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from mooring.cli.connect import ServerOption, engine_client
from mooring.cli.options import JsonFlag

notify_app = typer.Typer(
    name="notify",
    help="Signed webhooks on release outcomes ([notify] in $MOORING_HOME/engine.toml).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(notify_app)


@notify_app.command("log")
def delivery_log(
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=1000, help="How many deliveries.")] = 20,
    json_output: JsonFlag = False,
    server: ServerOption = None,
) -> int:
    """The newest webhook deliveries, newest first: event, app, release, state, attempts, last error."""
    from mooring.cli.output import out, print_json
    from mooring.cli.tables import text_table

    answer = engine_client(server).get(f"/v1/notify/deliveries?limit={limit}")
    if json_output:
        print_json(answer)
        return 0
    if not answer["webhooks"]:
        out.print(
            "no webhooks configured; add [[notify.webhook]] to $MOORING_HOME/engine.toml and restart "
            "the engine (docs/notify.md)",
            markup=False,
        )
        return 0
    if not answer["deliveries"]:
        names = ", ".join(h["name"] for h in answer["webhooks"])
        out.print(f"no deliveries yet (webhooks: {names})", markup=False)
        return 0
    out.print(text_table(HEADERS, [_row(d) for d in answer["deliveries"]]), markup=False)
    return 0


HEADERS = ["WHEN", "WEBHOOK", "EVENT", "APP", "RELEASE", "STATE", "ATTEMPTS", "LAST"]


def _row(d: dict[str, Any]) -> list[str]:
    last = d["attempts"][-1] if d["attempts"] else {}
    detail = f"HTTP {last['http_status']}" if last.get("http_status") else ""
    if last.get("error"):
        detail = last["error"]
    return [
        time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(d["updated_at"])),
        d["webhook"],
        d["event"],
        d["app"],
        d["release_id"] or "-",
        d["state"],
        str(len([a for a in d["attempts"] if a["attempt"]])),
        detail or "-",
    ]
