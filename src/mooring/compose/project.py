"""Load a Compose project as Compose does: files merged in order, ``.env`` and the environment for
interpolation, ``include``, ``extends``, profiles; every file checked against the Compose schema.

The result is the merged model with every relative path made absolute against the directory of the
file that wrote it (as Compose resolves them), ready for translation.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mooring.compose.interpolation import InterpolationError, Interpolator
from mooring.compose.merge import merge_services, merge_values, normalize_service, strip_tags
from mooring.compose.schema import schema_errors
from mooring.compose.yamlfile import ComposeFileError, load_yaml
from mooring.manifest.envfile import parse_env_file

DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
OVERRIDE_FILES = (
    "compose.override.yaml",
    "compose.override.yml",
    "docker-compose.override.yaml",
    "docker-compose.override.yml",
)
SECTIONS = ("volumes", "networks", "secrets", "configs", "models")


class ComposeError(ValueError):
    """The Compose input cannot be read; the message names the file and key."""


@dataclass
class ComposeProject:
    """The merged, interpolated Compose model and what loading it found."""

    name: str
    directory: Path
    files: list[Path]
    services: dict[str, dict[str, Any]]
    service_files: dict[str, Path]
    sections: dict[str, dict[str, Any]]
    top_level: dict[str, Any]  # every other top-level key (version, name, include, x-*), for the report
    inactive: dict[str, list[str]] = field(default_factory=dict)  # service -> its profiles, none active
    variables: dict[str, str] = field(default_factory=dict)
    unset: list[tuple[str, str, str]] = field(default_factory=list)  # (variable, file, key path)
    environ: dict[str, str] = field(
        default_factory=dict
    )  # .env and the environment, as interpolation saw them
    schema_errors: list[tuple[str, str, str]] = field(default_factory=list)  # (file, key, message)


def discover(directory: Path) -> list[Path]:
    """The files ``docker compose`` reads when given none: the first default file, then its override."""
    for name in DEFAULT_FILES:
        if (directory / name).is_file():
            found = [directory / name]
            override = next((directory / o for o in OVERRIDE_FILES if (directory / o).is_file()), None)
            return found + ([override] if override else [])
    raise ComposeError(
        f"{directory}: no compose.yaml, compose.yml, docker-compose.yaml or docker-compose.yml; name the file"
    )


def project_environment(
    directory: Path, environ: Mapping[str, str], env_files: Sequence[Path] = ()
) -> dict[str, str]:
    """``.env`` of the project directory (or ``--env-file``), overridden by the real environment."""
    values: dict[str, str] = {}
    candidates = list(env_files) or ([directory / ".env"] if (directory / ".env").is_file() else [])
    for path in candidates:
        try:
            values.update(parse_env_file(path.read_text(encoding="utf-8"), str(path)))
        except OSError as exc:
            raise ComposeError(f"{path}: cannot read it: {exc.strerror or exc}") from exc
        except ValueError as exc:
            raise ComposeError(str(exc)) from exc
    values.update(environ)
    return values


def load_project(
    files: Sequence[Path],
    *,
    environ: Mapping[str, str] | None = None,
    profiles: Sequence[str] = (),
    env_files: Sequence[Path] = (),
    project_name: str | None = None,
) -> ComposeProject:
    """Load and merge ``files`` (or the discovered defaults) into one project."""
    paths = [Path(f).absolute() for f in files] or discover(Path.cwd())
    directory = paths[0].parent
    env = project_environment(directory, os.environ if environ is None else environ, env_files)
    loader = _Loader(Interpolator(env))
    for path in paths:
        loader.add_file(path)
    services = {
        name: loader.resolve_extends(name, svc, loader.service_files[name], ())
        for name, svc in loader.services.items()
    }
    active = set(profiles) | {p for p in env.get("COMPOSE_PROFILES", "").split(",") if p}
    inactive = {
        name: list(svc["profiles"])
        for name, svc in services.items()
        if svc.get("profiles") and not active.intersection(svc["profiles"])
    }
    name = project_name or env.get("COMPOSE_PROJECT_NAME") or loader.top_level.get("name") or directory.name
    return ComposeProject(
        name=str(name),
        directory=directory,
        files=paths,
        services={n: strip_tags(s) for n, s in services.items() if n not in inactive},
        service_files=loader.service_files,
        sections={k: strip_tags(v) for k, v in loader.sections.items()},
        top_level=loader.top_level,
        inactive=inactive,
        variables=loader.interpolator.used,
        unset=loader.interpolator.unset,
        environ=env,
        schema_errors=loader.schema_errors,
    )


class _Loader:
    def __init__(self, interpolator: Interpolator) -> None:
        self.interpolator = interpolator
        self.services: dict[str, dict[str, Any]] = {}
        self.service_files: dict[str, Path] = {}
        self.sections: dict[str, dict[str, Any]] = {}
        self.top_level: dict[str, Any] = {}
        self.schema_errors: list[tuple[str, str, str]] = []
        self._parsed: dict[Path, dict[str, Any]] = {}

    def read(self, path: Path) -> dict[str, Any]:
        """One file, interpolated, schema-checked once, paths absolute."""
        if path not in self._parsed:
            try:
                raw = load_yaml(path)
            except ComposeFileError as exc:
                raise ComposeError(str(exc)) from exc
            self.interpolator.file = str(path)
            try:
                data = self.interpolator.value(raw, "")
            except InterpolationError as exc:
                raise ComposeError(str(exc)) from exc
            for key, message in schema_errors(strip_tags(data)):
                self.schema_errors.append((str(path), key, message))
            services = data.get("services")
            if isinstance(services, dict):
                data["services"] = {
                    n: absolutize(normalize_service(s), path.parent) if isinstance(s, dict) else s
                    for n, s in services.items()
                }
            self._parsed[path] = data
        return self._parsed[path]

    def add_file(self, path: Path) -> None:
        data = self.read(path)
        for entry in data.get("include") or []:
            for included in _include_paths(entry, path.parent):
                self.add_file(included)
        for key, value in data.items():
            if key == "services" and isinstance(value, dict):
                for name, service in value.items():
                    service = service if isinstance(service, dict) else {}
                    if name in self.services:
                        self.services[name] = merge_services(self.services[name], service)
                    else:
                        self.services[name] = service
                        self.service_files[name] = path
            elif key in SECTIONS and isinstance(value, dict):
                self.sections[key] = merge_values(self.sections.get(key, {}), value)
            elif key != "services":
                self.top_level[key] = value

    def resolve_extends(
        self, name: str, service: dict[str, Any], path: Path, seen: tuple[str, ...]
    ) -> dict[str, Any]:
        extends = service.get("extends")
        if extends is None:
            return service
        spec = {"service": extends} if isinstance(extends, str) else dict(extends)
        base_name = str(spec.get("service", ""))
        base_path = Path(spec["file"]) if spec.get("file") else path
        key = f"{base_path}:{base_name}"
        if key in seen:
            raise ComposeError(f"{path}: services.{name}.extends: cycle through {' -> '.join((*seen, key))}")
        if base_path == path and not spec.get("file"):
            pool = self.services if base_name in self.services else self.read(path).get("services", {})
        else:
            if not base_path.is_file():
                raise ComposeError(f"{path}: services.{name}.extends.file: {base_path} does not exist")
            pool = self.read(base_path).get("services", {})
        base = pool.get(base_name)
        if not isinstance(base, dict):
            raise ComposeError(
                f"{path}: services.{name}.extends: no service {base_name!r} in {base_path.name}"
            )
        resolved_base = self.resolve_extends(base_name, base, base_path, (*seen, key))
        own = {k: v for k, v in service.items() if k != "extends"}
        merged = merge_services(resolved_base, own)
        merged.pop("extends", None)
        return merged


def _include_paths(entry: Any, directory: Path) -> list[Path]:
    raw = entry.get("path") if isinstance(entry, dict) else entry
    items = raw if isinstance(raw, list) else [raw]
    return [(directory / str(item)).resolve() for item in items if item]


_BIND_PREFIX = re.compile(r"^(\.{1,2}(/|$)|/|~)")


def absolutize(service: dict[str, Any], directory: Path) -> dict[str, Any]:
    """Relative paths of one service made absolute against its file's directory, as Compose does."""
    out = dict(service)
    if isinstance(out.get("env_file"), list):
        out["env_file"] = [_abs_env_file(item, directory) for item in out["env_file"]]
    if isinstance(out.get("volumes"), list):
        out["volumes"] = [_abs_volume(item, directory) for item in out["volumes"]]
    build = out.get("build")
    if isinstance(build, str):
        out["build"] = str((directory / build).resolve())
    elif isinstance(build, dict) and isinstance(build.get("context"), str) and "://" not in build["context"]:
        out["build"] = {**build, "context": str((directory / build["context"]).resolve())}
    extends = out.get("extends")
    if isinstance(extends, dict) and extends.get("file"):
        out["extends"] = {**extends, "file": str((directory / str(extends["file"])).resolve())}
    return out


def _abs_env_file(item: Any, directory: Path) -> Any:
    if isinstance(item, dict) and isinstance(item.get("path"), str):
        return {**item, "path": str((directory / item["path"]).resolve())}
    if isinstance(item, str):
        return str((directory / item).resolve())
    return item


def _abs_volume(item: Any, directory: Path) -> Any:
    if isinstance(item, dict):
        source = item.get("source")
        if item.get("type") == "bind" and isinstance(source, str) and not source.startswith("~"):
            return {**item, "source": str((directory / source).resolve())}
        return item
    if isinstance(item, str):
        source, sep, rest = item.partition(":")
        if sep and _BIND_PREFIX.match(source) and not source.startswith("~"):
            return f"{(directory / source).resolve()}:{rest}"
    return item
