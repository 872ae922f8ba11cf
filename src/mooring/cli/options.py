"""Options shared by several commands, declared once."""

from __future__ import annotations

from typing import Annotated

import typer

ManifestFile = Annotated[
    str,
    typer.Option("--file", "-f", envvar="MOORING_FILE", help="Path of the manifest.", show_default=True),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
