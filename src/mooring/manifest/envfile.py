"""``env_file`` parsing: ``KEY=VALUE`` lines, ``#`` comments, optional ``export`` and quotes.

Errors name the file and the line number, never the line: env files hold secrets, and a manifest
pointing ``env_file`` at a file it should not read must not get that file printed.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

MAX_ENV_FILE_BYTES = 1024 * 1024

_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(.*)$")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def parse_env_file(text: str, source: str) -> dict[str, str]:
    """Parse an env file; raise ValueError naming ``source`` and the line for anything else."""
    env: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            raise ValueError(
                f"{source}: line {number} is not KEY=VALUE (its content is not shown: env files hold secrets)"
            )
        key, value = match.group(1), match.group(2).strip()
        env[key] = _unquote(value, f"{source}: line {number}")
        if "\0" in env[key]:
            raise ValueError(f"{source}: line {number}: the value of {key} contains a NUL byte")
    return env


def read_env_file(path: Path) -> str:
    """The text of an env file; refuses anything but a regular file before opening it.

    A FIFO would block ``open`` forever (validate and up hung); a device or /proc file can be endless.
    ``os.stat`` follows symlinks, so a link to a regular file is fine.
    """
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        raise ValueError(f"env file {str(path)!r} is {_kind(mode)}, not a regular file")
    # O_NONBLOCK: if the path was swapped for a FIFO since the stat, opening it still returns at once
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise ValueError(f"env file {str(path)!r} is not a regular file")
        data = handle.read(MAX_ENV_FILE_BYTES + 1)
    if len(data) > MAX_ENV_FILE_BYTES:
        raise ValueError(f"env file {str(path)!r} is larger than 1 MiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ValueError(f"env file {str(path)!r}: line {line} is not UTF-8 text") from None


def _kind(mode: int) -> str:
    kinds = [
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ]
    return next((name for test, name in kinds if test(mode)), "a special file")


def _unquote(value: str, where: str) -> str:
    if value[:1] in ("'", '"'):
        quote = value[0]
        end = value.find(quote, 1)
        if quote == '"':
            end = _closing_double_quote(value)
        if end < 0:
            raise ValueError(f"{where}: the quote {quote} is never closed")
        body = value[1:end]
        if quote == '"':
            body = re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), body)
        return body
    # an unquoted value ends at an inline comment that follows whitespace
    return re.split(r"\s+#", value, maxsplit=1)[0].rstrip()


def _closing_double_quote(value: str) -> int:
    i = 1
    while i < len(value):
        if value[i] == "\\":
            i += 2
            continue
        if value[i] == '"':
            return i
        i += 1
    return -1
