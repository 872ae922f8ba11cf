"""Compose's variable interpolation (compose-spec 12-interpolation.md), applied to YAML values.

``$VAR``, ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, ``${VAR:?err}``, ``${VAR?err}``,
``${VAR:+replacement}``, ``${VAR+replacement}``, nesting inside the braces, and ``$$`` for a literal
``$``. A ``$`` that starts none of these is kept, as Compose keeps it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mooring.compose.yamlfile import Override

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATORS = (":-", ":?", ":+", "-", "?", "+")


class InterpolationError(ValueError):
    """A ``${VAR:?message}`` whose variable is missing, or a malformed ``${...}``."""


@dataclass
class Interpolator:
    """Substitutes variables from ``environ``; remembers what it used and what was unset."""

    environ: Mapping[str, str]
    used: dict[str, str] = field(default_factory=dict)
    unset: list[tuple[str, str, str]] = field(default_factory=list)  # (variable, file, key path)
    file: str = ""  # the file being interpolated, for errors and ``unset``

    def value(self, data: Any, where: str) -> Any:
        """Interpolate every string inside ``data`` (keys are left alone, as Compose does)."""
        if isinstance(data, str):
            return self.text(data, where)
        if isinstance(data, dict):
            return {
                key: self.value(item, f"{where}.{key}" if where else str(key)) for key, item in data.items()
            }
        if isinstance(data, list):
            return [self.value(item, f"{where}[{index}]") for index, item in enumerate(data)]
        if isinstance(data, Override):  # !override [...]: its value is interpolated like any other
            return Override(self.value(data.value, where))
        return data

    def text(self, text: str, where: str) -> str:
        out: list[str] = []
        i = 0
        while i < len(text):
            char = text[i]
            if char != "$" or i + 1 >= len(text):
                out.append(char)
                i += 1
                continue
            nxt = text[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
            elif nxt == "{":
                end = _closing_brace(text, i + 2)
                if end < 0:
                    raise InterpolationError(
                        f"{self.file}: {where}: unclosed '${{' in {text!r}; close it with '}}' or write '$$'"
                    )
                out.append(self._braced(text[i + 2 : end], where))
                i = end + 1
            else:
                match = _NAME.match(text, i + 1)
                if match is None:
                    out.append(char)  # "$ 5", "$-": not a variable, kept as Compose keeps it
                    i += 1
                    continue
                out.append(self._lookup(match.group(0), where) or "")
                i = match.end()
        return "".join(out)

    def _braced(self, inner: str, where: str) -> str:
        match = _NAME.match(inner)
        if match is None:
            raise InterpolationError(
                f"{self.file}: {where}: invalid interpolation '${{{inner}}}': a variable name must come first"
            )
        name, rest = match.group(0), inner[match.end() :]
        if not rest:
            return self._lookup(name, where) or ""
        operator = next((op for op in _OPERATORS if rest.startswith(op)), None)
        if operator is None:
            raise InterpolationError(
                f"{self.file}: {where}: unsupported interpolation '${{{inner}}}' (Compose supports :- - :? ? :+ +)"
            )
        argument = rest[len(operator) :]
        value = self.environ.get(name)
        present = value is not None and (value != "" or ":" not in operator)
        if operator in (":-", "-"):
            return self._note(name, value) if present else self.text(argument, where)
        if operator in (":+", "+"):
            return self.text(argument, where) if present else ""
        if not present:
            message = self.text(argument, where) or f"variable {name} is required"
            raise InterpolationError(
                f"{self.file}: {where}: {message} (${{{name}}} is not set; put it in .env or the environment)"
            )
        return self._note(name, value)

    def _lookup(self, name: str, where: str) -> str | None:
        value = self.environ.get(name)
        if value is None:
            self.unset.append((name, self.file, where))
            return None
        return self._note(name, value)

    def _note(self, name: str, value: str | None) -> str:
        assert value is not None
        self.used[name] = value
        return value


def _closing_brace(text: str, start: int) -> int:
    depth = 1
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    return -1
