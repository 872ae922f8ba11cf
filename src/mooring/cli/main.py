"""Entry point: the typer app and the mapping from errors to exit codes."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import typer
from typer.core import TyperGroup

from mooring import __version__
from mooring.errors import MooringError

# Modules under mooring.cli whose register(app) adds commands. Importing all of them costs ~150 ms
# (the manifest's pydantic models, ...), so each is imported only when one of its commands runs.
COMMAND_MODULES = (
    "manifest_cmds",
    "up_cmd",
    "engine_cmds",
    "engine_admin",
    "app_cmds",
    "release_cmds",
    "events_cmd",
    "token_cmds",
    "doctor_cmd",
    "run_cmd",
    "node_cmds",
    "import_cmd",
    "backup_cmds",
    "images_cmd",
    "notify_cmds",
    "secret_cmds",
)
# Where the hot commands live, so running them imports one module; any other name loads them all.
COMMAND_HOME = {
    "ps": "engine_cmds",
    "logs": "engine_cmds",
    "down": "engine_cmds",
    "serve": "engine_cmds",
    "engine": "engine_admin",
    "status": "app_cmds",
    "apps": "app_cmds",
    "history": "app_cmds",
    "up": "up_cmd",
    "events": "events_cmd",
    "run-worker": "run_cmd",
    "nodes": "node_cmds",
    "node": "node_cmds",
    "import": "import_cmd",
    "backup": "backup_cmds",
    "restore": "backup_cmds",
    "images": "images_cmd",
    "secret": "secret_cmds",
    "maintenance": "release_cmds",
    "audit": "secret_cmds",
}


class LazyCommands(TyperGroup):
    """The root command group, importing a command's module when the command is looked up."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._loaded: set[str] = set()

    def list_commands(self, ctx: Any) -> list[str]:
        for module in COMMAND_MODULES:  # help and completion need every command
            self._load(module)
        return super().list_commands(ctx)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is None:
            home = COMMAND_HOME.get(cmd_name)
            for module in (home,) if home else COMMAND_MODULES:
                self._load(module)
            command = super().get_command(ctx, cmd_name) or self._load_all_then(ctx, cmd_name)
        return command

    def _load_all_then(self, ctx: Any, cmd_name: str) -> Any:
        for module in COMMAND_MODULES:
            self._load(module)
        return super().get_command(ctx, cmd_name)

    def _load(self, module: str) -> None:
        if module in self._loaded:
            return
        self._loaded.add(module)
        commands = typer.Typer()
        importlib.import_module(f"mooring.cli.{module}").register(commands)
        for name, command in typer.main.get_group(commands).commands.items():
            self.commands.setdefault(name, command)


app = typer.Typer(
    name="mooring",
    cls=LazyCommands,
    help="Run multi-service apps from one manifest; every change is a health-gated release.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def root() -> None:
    """Run multi-service apps from one manifest; every change is a health-gated release."""
    # A callback keeps the root a group: typer would collapse a one-command app into that command.


@app.command()
def version() -> None:
    """Print mooring's version."""
    print(f"mooring {__version__}")


def _hint_manifest_flag(message: str) -> None:
    """``mooring events --follow mooring.toml``: a manifest path where none is taken; name the flag."""
    import re

    from mooring.cli.output import err

    found = re.search(r"unexpected extra argument(?:\(s\)|s)? \((.+)\)", message)
    if found:
        paths = [a for a in found.group(1).split() if a.endswith(".toml")]
        if paths:
            err.print(
                f"hint: {paths[0]!r} looks like a manifest path: give it with -f/--file {paths[0]} "
                "(-f is the manifest in every command; following is --follow / -F)",
                markup=False,
            )


def main() -> None:
    """Run the typer app, turn MooringError into its message and exit code (the hot read commands
    usually run without typer: fast.py, the console script's entry)."""
    from mooring.cli.output import print_error, report

    try:
        result = app(standalone_mode=False)
    except MooringError as exc:
        sys.exit(report(exc))
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        print_error("aborted")
        sys.exit(1)
    except typer.TyperException as exc:  # usage errors: unknown option, missing argument, ...
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            print_error(str(exc))
        _hint_manifest_flag(str(getattr(exc, "message", exc)))
        code = int(getattr(exc, "exit_code", 1))
        # exit 2 means "invalid manifest" here; a usage error is 1 (docs/cli.md)
        sys.exit(1 if code == 2 else code)
    sys.exit(result if isinstance(result, int) else 0)
