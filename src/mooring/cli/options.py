"""Options shared by several commands, declared once."""

from __future__ import annotations

from typing import Annotated

import typer

from mooring.cli.reach import looks_like_manifest as looks_like_manifest
from mooring.cli.reach import reject_manifest_paths as reject_manifest_paths

ManifestFile = Annotated[
    str,
    typer.Option("--file", "-f", envvar="MOORING_FILE", help="Path of the manifest.", show_default=True),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
FollowFlag = Annotated[bool, typer.Option("--follow", "-F", help="Keep printing new lines as they come.")]
# -f is --file (the manifest) in every command; following is --follow / -F, so no flag means two things
