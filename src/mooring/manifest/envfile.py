"""``env_file`` parsing: ``KEY=VALUE`` lines, ``#`` comments, optional ``export`` and quotes."""

from __future__ import annotations

import re

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
            # the line is not echoed: an env file holds secrets, and errors travel to terminals and logs
            raise ValueError(
                f"{source}:{number}: expected KEY=VALUE (or a # comment); the line is not shown, "
                "it may hold a secret"
            )
        key, value = match.group(1), match.group(2).strip()
        env[key] = _unquote(value, f"{source}:{number}")
    return env


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
