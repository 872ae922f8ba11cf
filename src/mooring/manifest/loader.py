"""Load ``mooring.toml``: read, parse, interpolate, validate, cross-check, resolve paths.

Every problem found is reported at once as one :class:`ManifestError`; nothing else escapes.
"""

from __future__ import annotations

import copy
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mooring.manifest.checks import semantic_issues
from mooring.manifest.envfile import parse_env_file, read_env_file
from mooring.manifest.errors import Issue, ManifestError, did_you_mean
from mooring.manifest.interpolate import InterpolationError, Interpolator
from mooring.manifest.models import Manifest, Workload
from mooring.manifest.routes import HttpRoute, TlsFiles
from mooring.manifest.translate import issues_from

MAX_BYTES = 1024 * 1024
DEFAULT_FILE = "mooring.toml"
SECTIONS = ("app", "service", "worker", "cron", "volume")


@dataclass(frozen=True)
class LoadedManifest:
    """A valid manifest, where it came from, and the warnings worth showing."""

    manifest: Manifest
    path: Path
    warnings: tuple[Issue, ...] = ()


def load_manifest(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> LoadedManifest:
    """Load and validate a manifest file; raise ManifestError listing every problem."""
    file_path = Path(path)
    shown = str(path)
    try:
        data = file_path.read_bytes()
    except FileNotFoundError:
        raise ManifestError(
            [Issue(shown, "", "file not found", "create one with 'mooring init' or pass -f PATH")]
        ) from None
    except OSError as exc:
        raise ManifestError([Issue(shown, "", f"cannot read: {exc.strerror or exc}")]) from None
    if len(data) > MAX_BYTES:
        raise ManifestError([Issue(shown, "", f"is {len(data)} bytes; a manifest may be at most 1 MiB")])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError([Issue(shown, "", f"is not UTF-8 text (byte {exc.start})")]) from None
    base_dir = file_path.resolve().parent
    return load_manifest_text(text, file=shown, base_dir=base_dir, environ=environ)


def load_manifest_text(
    text: str,
    *,
    file: str = DEFAULT_FILE,
    base_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> LoadedManifest:
    """Validate manifest text; relative paths resolve against ``base_dir`` (default: cwd)."""
    base = (base_dir or Path.cwd()).resolve()
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError([Issue(file, "", f"is not valid TOML: {exc}")]) from None
    except (RecursionError, ValueError) as exc:
        raise ManifestError([Issue(file, "", f"is not valid TOML: {exc}")]) from None
    issues = _section_issues(raw, file) + _nul_issues(raw, (), file)
    interpolator = Interpolator(os.environ if environ is None else environ)
    known = {k: v for k, v in raw.items() if k in SECTIONS}
    expanded = _interpolate(known, (), interpolator, file, issues)
    try:
        manifest = Manifest.model_validate(expanded)
    except ValidationError as exc:
        first = issues_from(exc, file)
        # one pass: the checks across keys (dependencies, ports, ...) still run over what is valid
        raise ManifestError(issues + first + _checks_of_the_rest(expanded, exc, base, file, first)) from None
    except RecursionError:
        raise ManifestError([Issue(file, "", "is nested too deeply")]) from None
    if issues:
        raise ManifestError(issues)
    manifest = _resolve(manifest, base, file, issues)
    issues.extend(semantic_issues(manifest, file))
    errors = [i for i in issues if i.severity == "error"]
    if errors:
        raise ManifestError(errors)
    warnings = [i for i in issues if i.severity == "warning"]
    warnings.extend(
        Issue(
            file,
            "",
            f"${{{name}}} is not set; using an empty string",
            "set it or give ${NAME:-default}",
            "warning",
        )
        for name in sorted(set(interpolator.unset))
    )
    return LoadedManifest(manifest, Path(file), tuple(warnings))


WORKLOAD_SECTIONS = ("service", "worker", "cron")


def _checks_of_the_rest(
    data: dict[str, Any], error: ValidationError, base: Path, file: str, found: list[Issue]
) -> list[Issue]:
    """The cross-key errors of the manifest with its invalid keys dropped (a workload that cannot be
    salvaged is dropped whole, and no finding about a dropped name is reported), so that `validate`
    reports every problem at once instead of a second batch after the first is fixed."""
    salvaged = copy.deepcopy(data)
    dropped: set[str] = set()
    for _ in range(20):  # each round drops what the last validation named; bounded all the same
        for detail in error.errors():
            _drop(salvaged, tuple(detail["loc"]), dropped)
        try:
            manifest = Manifest.model_validate(salvaged)
            break
        except ValidationError as again:
            error = again
        except RecursionError:
            return []
    else:
        return []
    more: list[Issue] = []
    manifest = _resolve(manifest, base, file, more)
    more.extend(semantic_issues(manifest, file))
    seen = {(i.key, i.message) for i in found}
    return [
        i
        for i in more
        if i.severity == "error"
        and (i.key, i.message) not in seen
        and not any(repr(name) in i.message for name in dropped)
    ]


def _drop(data: dict[str, Any], loc: tuple[Any, ...], dropped: set[str]) -> None:
    """Remove the key an error points at: a workload's own key (``service.web.ports``), or the whole
    workload when the error is about it (``service.web``: needs image or command)."""
    if not loc:
        return
    if not isinstance(data.get(loc[0]), dict):
        data.pop(loc[0], None)
        return
    section = data[loc[0]]
    if loc[0] in WORKLOAD_SECTIONS:
        if len(loc) < 2:
            data.pop(loc[0], None)
            return
        name = loc[1]
        workload = section.get(name)
        if len(loc) < 3 or not isinstance(workload, dict):
            section.pop(name, None)
            dropped.add(str(name))
            return
        workload.pop(loc[2], None)
        return
    if len(loc) >= 2:
        section.pop(loc[1], None)
    else:
        data.pop(loc[0], None)


def _section_issues(raw: dict[str, Any], file: str) -> list[Issue]:
    issues = []
    for key in raw:
        if key not in SECTIONS:
            hint = did_you_mean(key, SECTIONS) or "sections: " + ", ".join(SECTIONS)
            issues.append(Issue(file, key, f"unknown section [{key}]", hint))
    return issues


def _nul_issues(value: Any, loc: tuple[str, ...], file: str) -> list[Issue]:
    """NUL bytes (TOML's ``\\u0000``) fit no command line, environment variable or path: refuse them now,
    not at start after a readiness deadline."""
    if isinstance(value, str):
        if "\0" not in value:
            return []
        return [
            Issue(file, _path(loc), "contains a NUL byte (\\u0000)", "remove it: no program can receive it")
        ]
    if isinstance(value, dict):
        found = [Issue(file, _path((*loc, k)), "the key contains a NUL byte") for k in value if "\0" in k]
        return found + [i for k, v in value.items() for i in _nul_issues(v, (*loc, k), file)]
    if isinstance(value, list):
        return [i for n, v in enumerate(value) for i in _nul_issues(v, (*loc, f"[{n}]"), file)]
    return []


def _path(loc: tuple[str, ...]) -> str:
    return ".".join(loc).replace(".[", "[").replace("\0", "\\0")


def _interpolate(
    value: Any, loc: tuple[str, ...], interp: Interpolator, file: str, issues: list[Issue]
) -> Any:
    if isinstance(value, str):
        if len(loc) == 5 and loc[2] == "template" and loc[4] == "data":
            return value  # a template's ${VAR} is the instance's, filled in when it starts
        try:
            return interp.expand(value)
        except InterpolationError as exc:
            issues.append(Issue(file, ".".join(loc), str(exc)))
            return value
    if isinstance(value, dict):
        return {k: _interpolate(v, (*loc, k), interp, file, issues) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, (*loc, f"[{i}]"), interp, file, issues) for i, v in enumerate(value)]
    return value


def _resolve(manifest: Manifest, base: Path, file: str, issues: list[Issue]) -> Manifest:
    """Fill the app name, load env files, make paths absolute: the result is self-contained."""
    app = manifest.app
    if app.name is None:
        app = app.model_copy(update={"name": default_app_name(base)})
    sections: dict[str, Any] = {"app": app}
    for kind in ("service", "worker", "cron"):
        workloads: dict[str, Workload] = getattr(manifest, kind)
        sections[kind] = {
            name: _resolve_workload(w, base, f"{kind}.{name}", file, issues) for name, w in workloads.items()
        }
    return manifest.model_copy(update=sections)


def _resolve_workload(workload: Workload, base: Path, where: str, file: str, issues: list[Issue]) -> Workload:
    env: dict[str, str] = {}
    for index, name in enumerate(workload.env_file):
        env_path = (base / os.path.expanduser(name)).resolve()
        key = f"{where}.env_file" + (f"[{index}]" if len(workload.env_file) > 1 else "")
        try:
            env.update(parse_env_file(read_env_file(env_path), name))
        except FileNotFoundError:
            issues.append(
                Issue(file, key, f"env file {str(env_path)!r} does not exist", "create it or remove it")
            )
        except OSError as exc:
            issues.append(Issue(file, key, f"cannot read env file {str(env_path)!r}: {exc.strerror or exc}"))
        except ValueError as exc:
            issues.append(Issue(file, key, str(exc)))
    env.update(workload.env)
    update: dict[str, Any] = {"env": env}
    if workload.driver == "process":
        update["working_dir"] = str(base / os.path.expanduser(workload.working_dir or "."))
        update["working_dir"] = os.path.normpath(update["working_dir"])
    templates = []
    for index, template in enumerate(workload.template):
        if template.data is None and template.source is not None:
            source = (base / os.path.expanduser(template.source)).resolve()
            try:
                # the content, not the path, is part of the release: editing the file is a change
                template = template.model_copy(update={"data": source.read_text(encoding="utf-8")})
            except (OSError, UnicodeDecodeError) as exc:
                issues.append(
                    Issue(
                        file,
                        f"{where}.template[{index}].source",
                        f"cannot read template {str(source)!r}: {getattr(exc, 'strerror', None) or exc}",
                        'create it, or give the text inline as data = "..."',
                    )
                )
            template = template.model_copy(update={"source": str(source)})
        templates.append(template)
    update["template"] = tuple(templates)
    routes = getattr(workload, "route", ())
    if routes:  # the engine reads certificate files on its host, wherever the CLI ran from
        update["route"] = tuple(_absolute_tls(r, base) for r in routes)
    data_dir = getattr(workload, "data_dir", None)
    if data_dir is not None:
        update["data_dir"] = os.path.normpath(str(base / os.path.expanduser(data_dir)))
    update["volumes"] = tuple(
        m.model_copy(update={"source": os.path.normpath(str(base / os.path.expanduser(m.source)))})
        if m.is_bind
        else m
        for m in workload.volumes
    )
    return workload.model_copy(update=update)


def _absolute_tls(route: HttpRoute, base: Path) -> HttpRoute:
    if not isinstance(route.tls, TlsFiles):
        return route
    files = {
        k: os.path.normpath(str(base / os.path.expanduser(getattr(route.tls, k)))) for k in ("cert", "key")
    }
    return route.model_copy(update={"tls": route.tls.model_copy(update=files)})


def default_app_name(directory: Path) -> str:
    """The app name when ``[app] name`` is absent: the manifest's directory, made a valid name."""
    name = re.sub(r"[^a-z0-9-]+", "-", directory.name.lower()).strip("-")[:63].strip("-")
    return name or "app"
