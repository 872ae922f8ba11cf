"""``${VAR}`` interpolation on string values, after TOML parsing, so a value never injects TOML.

Supported forms, as in Compose: ``$$`` (a literal ``$``), ``${VAR}``, ``${VAR:-default}`` (default
when unset or empty), ``${VAR-default}`` (default when unset), ``${VAR:?message}`` (error when unset
or empty). A ``$`` not followed by ``{`` or ``$`` is kept as is, so shell text such as ``$PORT`` in a
command reaches the shell untouched.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class InterpolationError(ValueError):
    """A ``${...}`` expression that cannot be expanded."""


@dataclass
class Interpolator:
    """Expands values against ``environ`` and remembers variables that were unset."""

    environ: Mapping[str, str]
    unset: list[str] = field(default_factory=list)

    def expand(self, text: str) -> str:
        if "$" not in text:
            return text
        out: list[str] = []
        i, n = 0, len(text)
        while i < n:
            ch = text[i]
            if ch != "$" or i + 1 >= n:
                out.append(ch)
                i += 1
                continue
            nxt = text[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
            elif nxt == "{":
                end = text.find("}", i + 2)
                if end < 0:
                    raise InterpolationError(
                        f"unclosed '${{' in {text!r}; close it with '}}' or write '$$' for a literal '$'"
                    )
                out.append(self._expression(text[i + 2 : end], text))
                i = end + 1
            else:
                out.append(ch)
                i += 1
        return "".join(out)

    def _expression(self, expr: str, text: str) -> str:
        match = _NAME.match(expr)
        if not match:
            raise InterpolationError(
                f"'${{{expr}}}' in {text!r} is not a variable reference; "
                "use ${NAME}, ${NAME:-default} or '$$' for a literal '$'"
            )
        name, rest = match.group(0), expr[match.end() :]
        value = self.environ.get(name)
        if rest == "":
            if value is None:
                self.unset.append(name)
                return ""
            return value
        for op in (":-", "-", ":?", "?"):
            if rest.startswith(op):
                arg = rest[len(op) :]
                missing = value is None or (op.startswith(":") and value == "")
                if op in (":-", "-"):
                    return arg if missing else str(value)
                if missing:
                    reason = arg or f"{name} must be set"
                    raise InterpolationError(f"${{{name}}} is required: {reason}")
                return str(value)
        raise InterpolationError(
            f"'${{{expr}}}' in {text!r} has an unknown modifier; use ${{{name}:-default}} or ${{{name}:?message}}"
        )
