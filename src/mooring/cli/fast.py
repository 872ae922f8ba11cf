"""The ``mooring`` executable: the hot read commands without typer, everything else through it.

``ps``, ``status``, ``apps``, ``history`` and ``logs`` against the local engine are what an operator
(and a script) runs most; importing typer, click and pydantic cost them ~50 ms before any work.
Their plain invocations (known options, well-formed values) are parsed here, as click would parse
them, and run the same code as the typer commands (reads.py). Anything else -- ``--help``, an
unknown or malformed option, a remote engine (``--server``, which needs httpx anyway) -- goes to
typer (main.py), which also owns every usage error message.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

from mooring.errors import MooringError

FLAG, TEXT, INT = "flag", "text", "int"
MANIFEST = "mooring.toml"

APP = {"--app": ("app", TEXT)}
FILE = {"--file": ("file", TEXT), "-f": ("file", TEXT)}
JSON = {"--json": ("json_output", FLAG)}
SERVER = {"--server": ("server", TEXT)}


class Command:
    """One hot command: its options (spelling -> parameter, kind), its positional argument, defaults."""

    def __init__(
        self,
        options: dict[str, tuple[str, str]],
        defaults: dict[str, Any],
        argument: str | None = None,
        int_range: dict[str, tuple[int, int]] | None = None,
    ) -> None:
        self.options = options
        self.defaults = defaults
        self.argument = argument
        self.int_range = int_range or {}


COMMANDS = {
    "ps": Command(
        {**APP, **JSON, **SERVER, "--wide": ("wide", FLAG)},
        {"app": None, "json_output": False, "server": None, "wide": False},
    ),
    "apps": Command(
        {
            "--status": ("status_filter", TEXT),
            "--failed": ("failed", FLAG),
            "--in-progress": ("in_progress", FLAG),
            **JSON,
            **SERVER,
        },
        {"status_filter": None, "failed": False, "in_progress": False, "json_output": False, "server": None},
    ),
    "status": Command(
        {**APP, **FILE, "--explain": ("explain", FLAG), **JSON, **SERVER},
        {"app": None, "file": MANIFEST, "explain": False, "json_output": False, "server": None},
    ),
    "history": Command(
        {**APP, **FILE, "--limit": ("limit", INT), "--before": ("before", TEXT), **JSON, **SERVER},
        {
            "release": None,
            "app": None,
            "file": MANIFEST,
            "limit": 20,
            "before": None,
            "json_output": False,
            "server": None,
        },
        argument="release",
        int_range={"limit": (1, 500)},
    ),
    "logs": Command(
        {
            "--follow": ("follow", FLAG),
            "-F": ("follow", FLAG),
            "--tail": ("tail", INT),
            "-n": ("tail", INT),
            "--since": ("since", TEXT),
            "--release": ("release", TEXT),
            **APP,
            **FILE,
            **SERVER,
        },
        {
            "target": None,
            "follow": False,
            "tail": None,
            "since": None,
            "release": None,
            "app": None,
            "file": MANIFEST,
            "server": None,
        },
        argument="target",
    ),
}


def parse(argv: list[str], environ: Mapping[str, str] = os.environ) -> tuple[str, dict[str, Any]] | None:
    """The command and its parameters, as typer would pass them; None when typer should parse it."""
    if not argv or argv[0] not in COMMANDS:
        return None
    command = COMMANDS[argv[0]]
    values = dict(command.defaults)
    # click reads an envvar only when it is set and not empty
    if "file" in values and environ.get("MOORING_FILE"):
        values["file"] = environ["MOORING_FILE"]
    values["server"] = environ.get("MOORING_SERVER") or None
    positional: list[str] = []
    rest = iter(argv[1:])
    for arg in rest:
        if not arg.startswith("-") or arg == "-":
            positional.append(arg)
            continue
        if arg.startswith("--"):
            name, equals, inline = arg.partition("=")
        else:  # -f PATH, or -fPATH / -n5 as click reads a short option glued to its value
            name, inline = arg[:2], arg[2:]
            equals = "=" if inline else ""
        option = command.options.get(name)
        if option is None:
            return None  # --help, "--", an unknown option: typer's to handle or to refuse
        dest, kind = option
        if kind == FLAG:
            if equals:
                return None
            values[dest] = True
            continue
        value = inline if equals else next(rest, None)
        if value is None or (not equals and value.startswith("-")):
            return None
        if kind == INT:
            try:
                number = int(value)
            except ValueError:
                return None
            low, high = command.int_range.get(dest, (number, number))
            if not low <= number <= high:
                return None
            values[dest] = number
        else:
            values[dest] = value
    if len(positional) > (1 if command.argument else 0):
        return None
    if positional and command.argument:
        values[command.argument] = positional[0]
    return argv[0], values


def handlers() -> dict[str, Callable[..., int]]:
    from mooring.cli import reads

    return {
        "ps": reads.ps,
        "apps": reads.apps,
        "status": reads.status,
        "history": reads.history,
        "logs": reads.logs,
    }


def main() -> None:
    """Console-script entry: a hot command runs here, any other through typer (main.py)."""
    parsed = parse(sys.argv[1:])
    if parsed is None or parsed[1]["server"]:
        from mooring.cli.main import main as typer_main

        typer_main()
        return
    name, values = parsed
    try:
        code = handlers()[name](**values)
    except MooringError as exc:
        from mooring.cli.output import report

        sys.exit(report(exc))
    except KeyboardInterrupt:
        # as click does (the typer path): a new line, then main.py's "aborted"
        from mooring.cli.output import print_error

        print("", file=sys.stderr, flush=True)
        print_error("aborted")
        sys.exit(1)
    sys.exit(code)
