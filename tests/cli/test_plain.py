"""plain.echo writes the bytes rich's console would, for any text: the hot commands print without rich."""

from __future__ import annotations

import io
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich._emoji_codes import EMOJI
from rich.console import Console

from mooring.cli import plain


def rich_bytes(text: str, terminal: bool) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, highlight=False, soft_wrap=True, force_terminal=terminal, width=80)
    console.print(text, markup=False)
    return buffer.getvalue()


def echo_bytes(text: str, monkeypatch: pytest.MonkeyPatch, terminal: bool) -> str:
    buffer = io.StringIO()
    monkeypatch.setattr(sys, "stdout", buffer)
    if plain.needs_rich(text):
        # handed to rich, which the test cannot redirect through output.out: compare rich with itself
        return rich_bytes(text, terminal)
    plain.echo(text)
    return buffer.getvalue()


TEXTS = [
    "",
    "no instances",
    "INSTANCE  APP  STATE\nweb-1-a1b2c3  shop  running   ",
    "created 2026-11-26T18:20:01  127.0.0.1:8081->8081 (instance :59019)",
    "wide 漢字 and combining e\u0301, and a very long line " + "x" * 300,
    "a [bold]markup-looking[/] text and \\[escaped]",
    "trailing spaces   \n\n  leading",
]


@pytest.mark.parametrize("terminal", [False, True])
@pytest.mark.parametrize("text", TEXTS)
def test_plain_text_prints_as_rich_prints_it(
    text: str, terminal: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not plain.needs_rich(text) or ":" in text
    assert echo_bytes(text, monkeypatch, terminal) == rich_bytes(text, terminal)


@pytest.mark.parametrize(
    "text", ["tab\there", "bell\a", "cr\r\n", "esc \x1b[31m", "x :smile: y", "+1 :+1:", ":100:"]
)
def test_text_rich_would_change_goes_to_rich(text: str) -> None:
    assert plain.needs_rich(text)


def test_every_emoji_code_of_rich_goes_to_rich() -> None:
    missed = [name for name in EMOJI if not plain.needs_rich(f"see :{name}: here")]
    assert missed == []


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=60))
def test_any_text_prints_as_rich_prints_it(text: str) -> None:
    if plain.needs_rich(text):
        return
    for terminal in (False, True):
        buffer = io.StringIO()
        saved = sys.stdout
        sys.stdout = buffer
        try:
            plain.echo(text)
        finally:
            sys.stdout = saved
        assert buffer.getvalue() == rich_bytes(text, terminal), repr(text)
