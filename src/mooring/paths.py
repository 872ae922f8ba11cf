"""Where mooring keeps its state on this host."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

# What the home holds (the state database with secrets, the API socket, logs) is this user's alone.
HOME_MODE = 0o700
FILE_MODE = 0o600


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
    """The home, created 0700, and made 0700 if it was pre-created looser (mkdir's mode only applies
    to a directory it creates)."""
    home = mooring_home()
    home.mkdir(parents=True, exist_ok=True, mode=HOME_MODE)
    _tighten(home, HOME_MODE)
    return home


def secure_home(home: Path) -> None:
    """Make the home 0700 and its logs 0700 (directories) / 0600 (files), however they were created.

    Only what this user owns is changed; symlinks are never followed (a link cannot widen the reach).
    """
    _tighten(home, HOME_MODE)
    engine_log = home / "engine.log"
    if engine_log.exists():
        _tighten(engine_log, FILE_MODE)
    logs = home / "logs"
    if not logs.is_dir() or logs.is_symlink():
        return
    _tighten(logs, HOME_MODE)
    for root, dirs, files in os.walk(logs):
        for name in dirs:
            _tighten(Path(root) / name, HOME_MODE)
        for name in files:
            _tighten(Path(root) / name, FILE_MODE)


def _tighten(path: Path, mode: int) -> None:
    """Drop group/other bits of ``path`` beyond ``mode`` (a FIFO or socket keeps its type, only bits change)."""
    with contextlib.suppress(OSError):
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode) or info.st_uid != os.geteuid():
            return
        if stat.S_IMODE(info.st_mode) & ~mode:
            os.chmod(path, stat.S_IMODE(info.st_mode) & mode)
