"""One Compose service as a ``[service.NAME]`` (or ``[worker.NAME]``) table."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mooring.compose.draft import ServiceContext, Table
from mooring.compose.findings import Severity
from mooring.compose.health import convert_healthcheck
from mooring.compose.hints import NETWORK_HINT, SERVICE_KEYS
from mooring.compose.ports import convert_expose, convert_ports
from mooring.compose.rollout import convert_deploy
from mooring.compose.values import as_text, duration_text, go_duration
from mooring.compose.volumes import convert_mounts, manifest_path

_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
# keys this module maps (the rest are reported through hints.SERVICE_KEYS or as unknown)
HANDLED = {
    "image", "build", "command", "environment", "env_file", "ports", "expose", "volumes", "depends_on",
    "healthcheck", "restart", "deploy", "scale", "cpus", "mem_limit", "pids_limit", "stop_signal",
    "stop_grace_period", "working_dir", "profiles", "extends",
}  # fmt: skip


def convert_service(service: dict[str, Any], ctx: ServiceContext, *, worker: bool, project: str) -> Table:
    table = Table(comments=[f"from {ctx.key()} ({Path(ctx.file).name})"])
    _image(service, table, ctx, project)
    command = service.get("command")
    if command not in (None, [], ""):
        table.set("command", [as_text(c) for c in command] if isinstance(command, list) else as_text(command))
    if "working_dir" in service:
        table.set("working_dir", str(service["working_dir"]))
    _environment(service, table, ctx)
    _env_files(service, table, ctx)
    mounts = convert_mounts(service.get("volumes") or [], ctx)
    if mounts:
        table.set("volumes", mounts)
    _stop(service, table, ctx)
    deps = _depends_on(service, ctx)
    if deps:
        table.set("depends_on", deps)
    _env_mentions(service, ctx)
    convert_deploy(service, table, ctx, worker=worker)
    if worker:
        _worker_only(service, ctx)
    else:
        ports = convert_ports(service.get("ports") or [], ctx)
        ports += [p for p in convert_expose(service.get("expose") or [], ctx) if not _declared(p, ports)]
        if ports:
            table.set("ports", ports)
        if isinstance(service.get("healthcheck"), dict):
            check = convert_healthcheck(service["healthcheck"], ctx)
            if check is not None:
                table.tables["health_check"] = check
    for key in service:
        if key in HANDLED:
            continue
        if key.startswith("x-"):
            ctx.report(ctx.key(key), "info", "an extension field; Compose ignores it too")
        elif key in SERVICE_KEYS:
            severity, message, hint = SERVICE_KEYS[key]
            ctx.report(ctx.key(key), severity, message, hint)  # type: ignore[arg-type]
        else:
            ctx.report(
                ctx.key(key),
                "unmapped",
                f"{key!r} is not known to this importer",
                "carry it over by hand if it matters",
            )
    return table


def _image(service: dict[str, Any], table: Table, ctx: ServiceContext, project: str) -> None:
    image = service.get("image")
    build = service.get("build")
    if build is not None:
        context = build if isinstance(build, str) else build.get("context", ".")
        context_text = (
            manifest_path(str(context), ctx.out_dir) if str(context).startswith("/") else str(context)
        )
        name = str(image) if image else f"{project}-{ctx.compose_name}"
        ctx.report(
            ctx.key("build"),
            "unmapped",
            "mooring does not build images",
            f"build it before `mooring up`: docker build -t {name} {context_text}",
        )
        if not image:
            table.set("image", name, "the name Compose gives the image it builds; build it first")
            return
    if image:
        table.set("image", str(image))


def _environment(service: dict[str, Any], table: Table, ctx: ServiceContext) -> None:
    env: dict[str, str] = {}
    for name, value in (service.get("environment") or {}).items():
        key = ctx.key("environment", name)
        if not _ENV_KEY.match(str(name)):
            ctx.report(
                key,
                "unmapped",
                f"{name!r} is not a variable name mooring accepts ([A-Za-z_][A-Za-z0-9_.]*)",
                "rename it",
            )
            continue
        if value is None:
            if str(name) in ctx.environ:
                env[str(name)] = ctx.environ[str(name)]
                ctx.report(
                    key,
                    "changed",
                    f"{name} has no value in Compose (taken from the environment at run time); its value now was written",
                )
            else:
                ctx.report(key, "unmapped", f"{name} has no value and is not set now", "set env." + str(name))
            continue
        env[str(name)] = as_text(value)
    if env:
        table.tables["env"] = Table(values=env)


def _env_files(service: dict[str, Any], table: Table, ctx: ServiceContext) -> None:
    files: list[str] = []
    for index, item in enumerate(service.get("env_file") or []):
        path = item.get("path") if isinstance(item, dict) else item
        required = item.get("required", True) if isinstance(item, dict) else True
        if isinstance(item, dict) and item.get("format") not in (None, "raw"):
            ctx.report(
                ctx.key("env_file", index, "format"),
                "unmapped",
                f"format {item['format']!r} is not supported",
            )
        if not Path(str(path)).is_file():
            severity: Severity = "info" if not required else "error"
            ctx.report(
                ctx.key("env_file", index),
                severity,
                f"{path} does not exist; it is left out",
                "create it, then add it to env_file",
            )
            continue
        files.append(manifest_path(str(path), ctx.out_dir))
    if files:
        table.set("env_file", files)


def _stop(service: dict[str, Any], table: Table, ctx: ServiceContext) -> None:
    if "stop_signal" in service:
        table.set("stop_signal", str(service["stop_signal"]))
    if "stop_grace_period" in service:
        try:
            table.set("stop_timeout", duration_text(go_duration(service["stop_grace_period"])))
        except ValueError as exc:
            ctx.report(ctx.key("stop_grace_period"), "error", str(exc))


def _depends_on(service: dict[str, Any], ctx: ServiceContext) -> list[str]:
    deps: list[str] = []
    for name, spec in (service.get("depends_on") or {}).items():
        key = ctx.key("depends_on", name)
        spec = spec or {}
        if name not in ctx.names:
            severity: Severity = "info" if spec.get("required") is False else "unmapped"
            ctx.report(
                key,
                severity,
                f"{name} is not in this manifest (not defined, or its profile is not active)",
                "activate its profile with --profile, or remove the dependency",
            )
            continue
        deps.append(ctx.names[name])
        condition = spec.get("condition", "service_started")
        if condition == "service_started":
            ctx.report(
                key,
                "changed",
                f"mooring waits for {name} to be ready (healthy when it has a health check), not only started",
            )
        if spec.get("restart"):
            ctx.report(
                f"{key}.restart",
                "unmapped",
                f"{ctx.compose_name} is not restarted when {name} is updated",
                "mooring restarts an instance only when its own spec changes",
            )
        if spec.get("required") is False:
            ctx.report(f"{key}.required", "changed", f"{name} is required by mooring")
    return deps


def _env_mentions(service: dict[str, Any], ctx: ServiceContext) -> None:
    """Values that reach another service by its Compose name, which does not resolve under mooring."""
    for name, value in (service.get("environment") or {}).items():
        if not isinstance(value, str):
            continue
        for other in ctx.names:
            if other != ctx.compose_name and re.search(
                rf"(?:^|[/@=,\s]){re.escape(other)}(?::\d+|/|$)", value
            ):
                ctx.report(
                    ctx.key("environment", name),
                    "changed",
                    f"refers to service {other!r} by name, which does not resolve under mooring",
                    NETWORK_HINT,
                )
                break


def _worker_only(service: dict[str, Any], ctx: ServiceContext) -> None:
    for key in ("ports", "expose", "healthcheck"):
        if service.get(key):
            ctx.report(
                ctx.key(key),
                "unmapped",
                f"{ctx.compose_name} runs to completion (a worker), which has no {key}",
                "",
            )


def _declared(port: str, ports: list[str]) -> bool:
    return any(p == port or p.endswith(f":{port}") for p in ports)
