"""Manifest problems as data: each one names the file, the key path, what is wrong and the fix."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from mooring.errors import MooringError

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Issue:
    """One finding about a manifest."""

    file: str
    key: str
    message: str
    hint: str | None = None
    severity: Severity = "error"

    def render(self) -> str:
        where = f"{self.file}: {self.key}: " if self.key else f"{self.file}: "
        text = where + self.message
        if self.hint:
            text += f" ({self.hint})"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "key": self.key,
            "message": self.message,
            "hint": self.hint,
            "severity": self.severity,
        }


class ManifestError(MooringError):
    """The manifest cannot be used; ``issues`` lists every error found (not only the first)."""

    code = "invalid_manifest"
    exit_code = 2

    def __init__(self, issues: Sequence[Issue]) -> None:
        self.issues = tuple(issues)
        lines = [issue.render() for issue in self.issues]
        super().__init__("\n".join(lines) if lines else "invalid manifest")


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """A ``did you mean 'x'?`` hint for a near miss, or None."""
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{matches[0]}'?" if matches else None


def key_path(loc: Sequence[int | str]) -> str:
    """Render a location tuple as ``service.web.ports[1]``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
