"""Entry point: the typer app and the mapping from errors to exit codes."""

from __future__ import annotations

import sys

import typer

from mooring import __version__
from mooring.cli import (
    app_cmds,
    doctor_cmd,
    engine_cmds,
    events_cmd,
    manifest_cmds,
    release_cmds,
    token_cmds,
    up_cmd,
)
from mooring.errors import MooringError

app = typer.Typer(
    name="mooring",
    help="Run multi-service apps from one manifest; every change is a health-gated release.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
manifest_cmds.register(app)
up_cmd.register(app)
engine_cmds.register(app)
release_cmds.register(app)
app_cmds.register(app)
events_cmd.register(app)
token_cmds.register(app)
doctor_cmd.register(app)


@app.command()
def version() -> None:
    """Print mooring's version."""
    print(f"mooring {__version__}")


def main() -> None:
    """Console-script entry: run the app, turn MooringError into its message and exit code."""
    from mooring.cli.output import print_error

    try:
        result = app(standalone_mode=False)
    except MooringError as exc:
        from mooring.manifest.errors import ManifestError

        if isinstance(exc, ManifestError):
            for issue in exc.issues:
                print_error(issue.render())
        else:
            print_error(exc.message, exc.hint)
        sys.exit(exc.exit_code)
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
        code = int(getattr(exc, "exit_code", 1))
        # exit 2 means "invalid manifest" here; a usage error is 1 (docs/cli.md)
        sys.exit(1 if code == 2 else code)
    sys.exit(result if isinstance(result, int) else 0)
