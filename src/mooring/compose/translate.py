"""A loaded Compose project as a manifest draft, and every finding on the way."""

from __future__ import annotations

from pathlib import Path

from mooring.compose.draft import Draft, ServiceContext, Table
from mooring.compose.findings import Findings
from mooring.compose.hints import TOP_LEVEL_KEYS
from mooring.compose.project import ComposeProject
from mooring.compose.service import convert_service
from mooring.compose.values import slug
from mooring.compose.volumes import convert_named_volumes


def translate(project: ComposeProject, out_dir: Path, findings: Findings) -> Draft:
    first = str(project.files[0])
    app = slug(project.name)
    draft = Draft(app=Table(values={"name": app}))
    if app != project.name:
        draft.app.notes["name"] = f"Compose project {project.name!r}"
    for file, key, message in project.schema_errors:
        findings.add(
            file,
            key,
            "error",
            f"breaks the Compose specification: {message}",
            "docker compose refuses this file too; fix it",
        )
    for name, profiles in project.inactive.items():
        findings.add(
            str(project.service_files[name]), f"services.{name}.profiles", "info",
            f"left out: its profiles ({', '.join(profiles)}) are not active", "pass --profile NAME to include it",
        )  # fmt: skip
    for variable, file, where in project.unset:
        findings.add(
            file,
            where,
            "changed",
            f"${{{variable}}} is not set; Compose uses an empty string, and so does this manifest",
            f"set {variable} in .env or the environment",
        )
    for key in project.top_level:
        if key == "name":
            continue
        if key.startswith("x-"):
            findings.add(first, key, "info", "an extension field; Compose ignores it too")
        elif key in TOP_LEVEL_KEYS:
            severity, message, hint = TOP_LEVEL_KEYS[key]
            findings.add(first, key, severity, message, hint)  # type: ignore[arg-type]
        else:
            findings.add(first, key, "unmapped", f"top-level {key!r} is not known to this importer")
    for section, value in project.sections.items():
        if section != "volumes" and not value:
            severity, message, hint = TOP_LEVEL_KEYS[section]
            findings.add(first, section, "info", f"empty; {message}", hint)
        elif section != "volumes":
            severity, message, hint = TOP_LEVEL_KEYS[section]
            for item in value:
                findings.add(first, f"{section}.{item}", severity, message, hint)  # type: ignore[arg-type]
    volume_names = convert_named_volumes(project.sections.get("volumes") or {}, first, findings, draft)
    names = _service_names(project, findings)
    workers = _workers(project)
    environ = dict(project.environ)
    for compose_name, service in project.services.items():
        ctx = ServiceContext(
            compose_name=compose_name,
            file=str(project.service_files[compose_name]),
            out_dir=out_dir,
            findings=findings,
            names=names,
            volume_names=volume_names,
            draft=draft,
            environ=environ,
        )
        is_worker = compose_name in workers
        table = convert_service(service, ctx, worker=is_worker, project=app)
        if is_worker:
            table.comments.append(
                "a worker: another service waits for it to complete (service_completed_successfully)"
            )
            draft.worker[names[compose_name]] = table
        else:
            draft.service[names[compose_name]] = table
    return draft


def _service_names(project: ComposeProject, findings: Findings) -> dict[str, str]:
    names: dict[str, str] = {}
    for compose_name in project.services:
        name, n = slug(compose_name), 2
        while name in names.values():
            name, n = f"{slug(compose_name)[:60]}-{n}", n + 1
        names[compose_name] = name
        if name != compose_name:
            findings.add(
                str(project.service_files[compose_name]), f"services.{compose_name}", "changed",
                f"renamed to {name!r}: manifest names are lowercase letters, digits and '-'",
            )  # fmt: skip
    return names


def _workers(project: ComposeProject) -> set[str]:
    """Services another one waits on to complete: one-shot tasks, so manifest workers."""
    workers: set[str] = set()
    for service in project.services.values():
        for name, spec in (service.get("depends_on") or {}).items():
            if (spec or {}).get("condition") == "service_completed_successfully" and name in project.services:
                workers.add(name)
    return workers
