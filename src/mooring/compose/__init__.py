"""``mooring import compose``: a Compose project as a commented ``mooring.toml``, with a report of
every Compose key the manifest cannot hold as Compose meant it (docs/compose.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mooring.compose.findings import Finding, Findings
from mooring.compose.project import ComposeError, ComposeProject, load_project
from mooring.compose.render import render
from mooring.compose.translate import translate

__all__ = ["ComposeError", "ComposeProject", "Finding", "ImportResult", "import_compose", "load_project"]


@dataclass(frozen=True)
class ImportResult:
    """The manifest text, what it holds, and every finding."""

    text: str
    app: str
    services: list[str]
    workers: list[str]
    volumes: list[str]
    files: list[str]
    variables: list[str]  # names only: values may be secrets
    findings: list[Finding]

    @property
    def has_errors(self) -> bool:
        return any(f.severity == "error" for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "files": self.files,
            "services": self.services,
            "workers": self.workers,
            "volumes": self.volumes,
            "variables": self.variables,
            "findings": [f.to_dict() for f in self.findings],
        }


def import_compose(
    files: Sequence[Path],
    out_dir: Path,
    *,
    environ: Mapping[str, str] | None = None,
    profiles: Sequence[str] = (),
    env_files: Sequence[Path] = (),
    project_name: str | None = None,
) -> ImportResult:
    """Load ``files`` as Compose does and translate them for a manifest written in ``out_dir``."""
    project = load_project(
        files, environ=environ, profiles=profiles, env_files=env_files, project_name=project_name
    )
    findings = Findings([])
    draft = translate(project, out_dir.resolve(), findings)
    shown = [_shown(path, out_dir) for path in project.files]
    draft.header = [
        f"Imported from Compose by `mooring import compose` ({', '.join(shown)}).",
        "Check it with `mooring validate`; the import's report lists every Compose key that is not",
        "here as Compose meant it, and what to do instead (docs/compose.md).",
    ]
    if project.variables:
        draft.header.append(
            f"Interpolated at import: {', '.join(sorted(project.variables))} (values written in)."
        )
    return ImportResult(
        text=render(draft),
        app=str(draft.app.values["name"]),
        services=list(draft.service),
        workers=list(draft.worker),
        volumes=list(draft.volume),
        files=[str(p) for p in project.files],
        variables=sorted(project.variables),
        findings=findings.items,
    )


def _shown(path: Path, out_dir: Path) -> str:
    try:
        return str(path.resolve().relative_to(out_dir.resolve()))
    except ValueError:
        return str(path)
