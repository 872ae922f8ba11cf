"""Where mooring keeps its state on this host."""

from __future__ import annotations

import os
from pathlib import Path


def mooring_home() -> Path:
    """``$MOORING_HOME``; else ``/var/lib/mooring`` for root, else the XDG state dir."""
    explicit = os.environ.get("MOORING_HOME")
    if explicit:
        return Path(explicit).expanduser()
    if os.geteuid() == 0:
        return Path("/var/lib/mooring")
    xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(xdg) / "mooring"


def ensure_home() -> Path:
    home = mooring_home()
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    return home


def instance_root() -> Path:
    """Where each instance gets its own directory (rendered templates), removed with the instance."""
    return mooring_home() / "instances"
