"""Options shared by several commands, declared once."""

from __future__ import annotations

from typing import Annotated

import typer

ManifestFile = Annotated[
    str,
    typer.Option("--file", "-f", envvar="MOORING_FILE", help="Path of the manifest.", show_default=True),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
FollowFlag = Annotated[bool, typer.Option("--follow", "-F", help="Keep printing new lines as they come.")]
# -f is --file (the manifest) in every command; following is --follow / -F, so no flag means two things


def looks_like_manifest(value: str) -> bool:
    return value.endswith(".toml")


def reject_manifest_paths(values: list[str] | None, where: str) -> None:
    """A manifest path given where a name belongs: say which flag takes it."""
    from mooring.errors import UsageError

    for value in values or ():
        if looks_like_manifest(value):
            raise UsageError(
                f"{value!r} looks like a manifest path, not {where}",
                hint=f"give the manifest with -f/--file {value} (the same flag in every command)",
            )
