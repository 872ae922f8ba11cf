"""The fast path parses a hot command exactly as typer does, or hands it to typer.

For any command line built from the hot commands' options (and wrong ones), fast.parse either
declines (None) or yields the very parameters typer would call the command with.
"""

from __future__ import annotations

import os
from typing import Any

import click
import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st

from mooring.cli import fast, main

TOKENS = [
    "--app", "web", "--json", "--server", "", "h:1", "-f", "x.toml", "-fy.toml", "--file=z.toml",
    "--explain", "--limit", "5", "0", "501", "-3", "abc", "--before", "12", "--status", "failed",
    "--failed", "--in-progress", "--follow", "-F", "--tail", "-n", "-n7", "--tail=2", "--since", "10m",
    "--release", "r1", "--wide", "--help", "--", "-", "--json=1", "--app=", "--bogus", "-Fn3", "web-1", "a.toml",
]  # fmt: skip


def typer_params(argv: list[str], env: dict[str, str]) -> dict[str, Any] | None:
    """What typer would call the command with, or None when it refuses the line."""
    group = typer.main.get_group(main.app)
    saved = dict(os.environ)
    os.environ.pop("MOORING_SERVER", None)
    os.environ.pop("MOORING_FILE", None)
    os.environ.update(env)
    try:
        command = group.get_command(click.Context(group), argv[0])
        assert command is not None
        ctx = command.make_context(argv[0], list(argv[1:]))
        return dict(ctx.params)
    except (click.exceptions.Exit, click.ClickException):
        return None
    finally:
        os.environ.clear()
        os.environ.update(saved)


def check(argv: list[str], env: dict[str, str]) -> None:
    parsed = fast.parse(argv, env)
    if parsed is None:
        return  # typer parses it (and owns its errors)
    name, values = parsed
    assert name == argv[0]
    expected = typer_params(argv, env)
    assert expected is not None, f"typer refuses {argv}, the fast path took it as {values}"
    assert values == expected, argv


@pytest.mark.parametrize(
    "argv",
    [
        ["ps"],
        ["ps", "--json", "--app", "web"],
        ["ps", "--wide", "--app", "web"],
        ["status", "--app=web", "--explain"],
        ["status", "-fother.toml"],
        ["history", "abc123", "--limit", "3", "--json"],
        ["history", "--before", "12", "--app", "web"],
        ["apps", "--failed", "--status", "blocked"],
        ["logs", "web", "-F", "-n", "20", "--since", "5m", "--release", "r1"],
        ["logs", "-n5", "-"],
    ],
)
def test_plain_lines_parse_as_typer_parses_them(argv: list[str]) -> None:
    assert fast.parse(argv, {}) is not None
    check(argv, {})


@pytest.mark.parametrize(
    "argv",
    [
        ["ps", "--help"],
        ["ps", "extra"],
        ["history", "--limit", "0"],
        ["history", "--limit", "x"],
        ["logs", "a", "b"],
        ["logs", "--tail"],
        ["status", "--json=yes"],
        ["ps", "--", "--json"],
        ["up"],
        [],
    ],
)
def test_anything_else_goes_to_typer(argv: list[str]) -> None:
    assert fast.parse(argv, {}) is None


def test_environment_defaults_as_click_reads_them() -> None:
    assert fast.parse(["status"], {"MOORING_FILE": "env.toml"}) == (
        "status",
        {"app": None, "file": "env.toml", "explain": False, "json_output": False, "server": None},
    )
    check(["status"], {"MOORING_FILE": "env.toml", "MOORING_SERVER": ""})
    parsed = fast.parse(["ps"], {"MOORING_SERVER": "h:1"})
    assert parsed is not None and parsed[1]["server"] == "h:1"  # main() hands a remote engine to typer
    check(["ps", "--server", ""], {"MOORING_SERVER": "h:1"})


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(sorted(fast.COMMANDS)),
    st.lists(st.sampled_from(TOKENS), max_size=6),
    st.sampled_from([{}, {"MOORING_FILE": "e.toml"}, {"MOORING_SERVER": "h:2"}, {"MOORING_FILE": ""}]),
)
def test_any_line_parses_as_typer_parses_it_or_goes_to_typer(
    command: str, rest: list[str], env: dict[str, str]
) -> None:
    check([command, *rest], env)
