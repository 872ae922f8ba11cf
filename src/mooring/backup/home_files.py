"""Files of ``$MOORING_HOME`` that a restore needs beside the database: the secret store's key
(``*.key``: without it the stored secrets cannot be read) and ``engine.toml``."""

from __future__ import annotations

from pathlib import Path

PREFIX = "home/"
CONFIG_FILES = ("engine.toml",)


def collect(home: Path) -> dict[str, bytes]:
    files = sorted(home.glob("*.key")) + [home / name for name in CONFIG_FILES]
    return {f"{PREFIX}{path.name}": path.read_bytes() for path in files if path.is_file()}


def put(members: dict[str, bytes], home: Path) -> list[str]:
    """Write the home files of a backup (mode 0600); returns their names."""
    written = []
    for member, data in members.items():
        if not member.startswith(PREFIX):
            continue
        name = member[len(PREFIX) :]
        if "/" in name or name.startswith("."):
            continue  # only plain top-level names, never a path out of the home
        target = home / name
        partial = target.with_name(name + ".restoring")
        partial.write_bytes(data)
        partial.chmod(0o600)
        partial.replace(target)
        written.append(name)
    return written
