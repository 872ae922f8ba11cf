"""The CLI imports a command's module only when that command runs, so `mooring ps` starts fast."""

from __future__ import annotations

import subprocess
import sys

import typer

from mooring.cli import main

PROBE = """
import sys
from mooring.cli import main
try:
    main.app(["ps", "--help"], standalone_mode=False)
finally:
    heavy = sorted(m for m in sys.modules if m.startswith(("mooring.manifest", "mooring.store", "sqlalchemy")))
    print("HEAVY", heavy, file=sys.stderr)
"""


def test_ps_does_not_import_the_manifest_machinery() -> None:
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "List instances" in result.stdout
    assert "HEAVY []" in result.stderr, result.stderr


def test_lazy_root_lists_every_registered_command() -> None:
    eager = typer.Typer()
    for module in main.COMMAND_MODULES:
        __import__(f"mooring.cli.{module}", fromlist=["register"]).register(eager)
    expected = set(typer.main.get_group(eager).commands) | {"version"}
    group = typer.main.get_group(main.app)
    assert set(group.list_commands(typer.Context(group))) == expected
    for name, module in main.COMMAND_HOME.items():
        assert name in typer.main.get_group(eager).commands, f"{name} is not a command of {module}"
