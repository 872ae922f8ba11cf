"""A pre-created $MOORING_HOME and its logs are made the user's alone (issue 17, item 6)."""

from __future__ import annotations

import stat
from pathlib import Path

from tests.engine.conftest import Mooring


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_pre_created_home_and_logs_are_made_0700_and_0600(mooring: Mooring) -> None:
    home = mooring.home
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    (home / "logs").mkdir(mode=0o755)
    (home / "logs").chmod(0o755)
    old = home / "logs" / "old.log"
    old.write_text("output of an earlier instance\n")
    old.chmod(0o644)
    (home / "engine.log").write_text("")
    (home / "engine.log").chmod(0o644)
    mooring.write("mooring.toml", '[app]\nname = "modes"\n[service.web]\ncommand = "sleep 600"\n')
    mooring.run("up", check=True)
    assert _mode(home) == 0o700
    assert _mode(home / "engine.log") == 0o600
    assert _mode(home / "logs") == 0o700
    assert _mode(old) == 0o600
    logs = [p for p in (home / "logs").rglob("*") if p.is_file() and p != old]
    assert logs, "the instance wrote no log file"
    for path in logs:
        assert _mode(path) & 0o077 == 0, (path, oct(_mode(path)))
    for path in (p for p in (home / "logs").rglob("*") if p.is_dir()):
        assert _mode(path) == 0o700, (path, oct(_mode(path)))
