"""How a command finds its engine and its app."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mooring.client import EngineClient
from mooring.errors import UsageError

AppOption = Annotated[
    str | None,
    typer.Option("--app", help="App name (default: [app] name of the manifest, else its directory)."),
]


ServerOption = Annotated[
    str | None,
    typer.Option(
        "--server",
        envvar="MOORING_SERVER",
        help="A remote engine: HOST:PORT, or https://HOST:PORT for TLS (token from MOORING_TOKEN, "
        "CA from MOORING_CA_CERT); default: the local engine.",
    ),
]


def engine_client(server: str | None = None) -> EngineClient:
    """The engine at ``--server``, else the local engine, started in the background if needed."""
    from mooring.cli.output import err

    def notice(text: str) -> None:
        err.print(text, style="dim", markup=False)

    if server:
        from mooring.client.remote import remote_engine

        client = EngineClient(remote=remote_engine(server))
        client.on_reconnect = notice
        return client
    from mooring.client.autostart import local_client
    from mooring.paths import mooring_home

    return local_client(mooring_home(), notice=notice)


def resolve_app(app: str | None, file: str) -> str:
    """``--app``, else the manifest's app name, else a clear error."""
    if app:
        return app
    if Path(file).exists():
        from mooring.manifest import load_manifest

        return load_manifest(file).manifest.app_name
    raise UsageError(
        f"no --app given and no manifest at {file}",
        hint="pass --app NAME or -f PATH/mooring.toml (-f is the manifest in every command; "
        "following logs or events is --follow / -F)",
    )
