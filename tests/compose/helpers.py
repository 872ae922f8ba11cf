"""Write a small Compose project and import it, for the unit tests of mooring.compose."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from mooring.compose import ImportResult, import_compose
from mooring.manifest import load_manifest_text


def write(root: Path, files: dict[str, str]) -> list[Path]:
    paths = []
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        paths.append(path)
    return paths


def convert(root: Path, files: dict[str, str], **kwargs: Any) -> tuple[ImportResult, dict[str, Any]]:
    """Import the YAML files among ``files`` (in order); the result and the validated manifest as data."""
    paths = write(root, files)
    compose = [p for p in paths if p.suffix in (".yaml", ".yml")]
    kwargs.setdefault("environ", {})
    result = import_compose(compose, root, **kwargs)
    load_manifest_text(result.text, base_dir=root, environ={})  # the real validation; raises if invalid
    return result, tomllib.loads(result.text)


def keys(result: ImportResult, severity: str | None = None) -> set[str]:
    return {f.key for f in result.findings if severity is None or f.severity == severity}
