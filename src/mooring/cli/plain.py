"""Plain text out, without importing rich (~30 ms) for the text that rich would print unchanged.

``echo(text)`` writes what ``Console(highlight=False, soft_wrap=True).print(text, markup=False)``
(``output.out``) writes, byte for byte: rich changes such text only where it holds control
characters or tabs (stripped, expanded) or an emoji code (``:smile:``), and that text is handed to
rich itself. tests/cli/test_plain.py holds the two to the same bytes.
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import Any

# Control characters and tabs: rich strips some (\a \b \v \f \r) and expands tabs; let it.
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")
# rich's emoji code pattern (rich/_emoji_replace.py); a code is replaced only when its name is an emoji.
_EMOJI_CODE = re.compile(r":(\S*?)(?:-(?:emoji|text))?:")
# The emoji names without a letter in rich's table; every other name has one.
_LETTERLESS_EMOJI = frozenset({"100", "1234", "+1", "-1", "__1"})


def needs_rich(text: str) -> bool:
    """Whether rich could print ``text`` other than as it is (a superset, never a miss)."""
    if _CONTROL.search(text):
        return True
    for match in _EMOJI_CODE.finditer(text):
        name = match.group(1).lower()
        if name in _LETTERLESS_EMOJI or any(c.isalpha() for c in name):
            return True
    return False


def echo(text: str, *, stderr: bool = False) -> None:
    """Print a line of plain text (no markup) to stdout, or stderr, as ``output.out``/``err`` would."""
    if needs_rich(text):
        from mooring.cli.output import err, out

        (err if stderr else out).print(text, markup=False)
        return
    stream = sys.stderr if stderr else sys.stdout
    try:
        stream.write(text + "\n")
        stream.flush()  # as rich does after each print: stdout and stderr stay in order on a terminal
    except BrokenPipeError:
        # as rich does (Console.on_broken_pipe): `mooring ps | head` ends quietly, exit 1
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise SystemExit(1) from None


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False) + "\n")
    sys.stdout.flush()
