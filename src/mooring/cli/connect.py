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


def engine_client() -> EngineClient:
    """The local engine, started in the background if needed."""
    from mooring.cli.output import err
    from mooring.client.autostart import local_client
    from mooring.paths import mooring_home

    return local_client(mooring_home(), notice=lambda text: err.print(text, style="dim"))


def resolve_app(app: str | None, file: str) -> str:
    """``--app``, else the manifest's app name, else a clear error."""
    if app:
        return app
    if Path(file).exists():
        from mooring.manifest import load_manifest

        return load_manifest(file).manifest.app_name
    raise UsageError(
        f"no --app given and no manifest at {file}", hint="pass --app NAME or -f PATH/mooring.toml"
    )
