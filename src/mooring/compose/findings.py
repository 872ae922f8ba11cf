"""What the import could not carry over, or carried over with a different meaning."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

# unmapped: the key is not in the manifest at all; changed: it is, with a different meaning (read the
# hint); info: nothing is lost (Compose ignores it too, or mooring does it anyway); error: the input
# breaks the Compose schema or cannot be converted.
Severity = Literal["error", "unmapped", "changed", "info"]


@dataclass(frozen=True)
class Finding:
    """One Compose key the manifest does not hold as Compose meant it, and what to do instead."""

    file: str
    key: str  # the Compose key path: services.web.networks, volumes.data.driver, services.web.ports[1]
    severity: Severity
    message: str
    hint: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        hint = f" ({self.hint})" if self.hint else ""
        return f"{self.file}: {self.key}: {self.severity}: {self.message}{hint}"


@dataclass
class Findings:
    """The findings of one import, in the order they were found."""

    items: list[Finding]

    def add(self, file: str, key: str, severity: Severity, message: str, hint: str = "") -> None:
        self.items.append(Finding(file, key, severity, message, hint))
