"""The manifest being written: tables of values with the comments that explain where they came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mooring.compose.findings import Findings, Severity


@dataclass
class Table:
    """One TOML table: values, a comment per key, comment lines above it, and sub-tables."""

    values: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    comments: list[str] = field(default_factory=list)
    tables: dict[str, Table] = field(default_factory=dict)

    def set(self, key: str, value: Any, note: str = "") -> None:
        self.values[key] = value
        if note:
            self.notes[key] = note

    def table(self, key: str) -> Table:
        return self.tables.setdefault(key, Table())


@dataclass
class Draft:
    """The whole manifest: ``[app]`` and the tables of each section, in Compose's order."""

    app: Table
    service: dict[str, Table] = field(default_factory=dict)
    worker: dict[str, Table] = field(default_factory=dict)
    volume: dict[str, Table] = field(default_factory=dict)
    header: list[str] = field(default_factory=list)


@dataclass
class ServiceContext:
    """What translating one Compose service needs: where it came from and where findings go."""

    compose_name: str
    file: str
    out_dir: Path
    findings: Findings
    names: dict[str, str]  # Compose service name -> manifest name
    volume_names: dict[str, str]  # Compose volume name -> manifest volume name
    draft: Draft
    environ: dict[str, str]

    def key(self, *parts: str | int) -> str:
        path = f"services.{self.compose_name}"
        for part in parts:
            path += f"[{part}]" if isinstance(part, int) else f".{part}"
        return path

    def report(self, key: str, severity: Severity, message: str, hint: str = "") -> None:
        self.findings.add(self.file, key, severity, message, hint)
