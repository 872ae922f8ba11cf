"""How a command finds its engine and its app, and checks the names it was given (without typer:
the hot commands use it too)."""

from __future__ import annotations

from pathlib import Path

from mooring.client import Client
from mooring.errors import UsageError


def engine_client(server: str | None = None) -> Client:
    """The engine at ``--server``, else the local engine, started in the background if needed."""

    def notice(text: str) -> None:
        from mooring.cli.output import err

        err.print(text, style="dim", markup=False)

    if server:
        from mooring.client.http import EngineClient
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


def looks_like_manifest(value: str) -> bool:
    return value.endswith(".toml")


def reject_manifest_paths(values: list[str] | None, where: str) -> None:
    """A manifest path given where a name belongs: say which flag takes it."""
    for value in values or ():
        if looks_like_manifest(value):
            raise UsageError(
                f"{value!r} looks like a manifest path, not {where}",
                hint=f"give the manifest with -f/--file {value} (the same flag in every command)",
            )
