"""How a command finds its engine and its app: the options, and (from reach.py) the lookups."""

from __future__ import annotations

from typing import Annotated

import typer

from mooring.cli.reach import engine_client as engine_client
from mooring.cli.reach import resolve_app as resolve_app

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
