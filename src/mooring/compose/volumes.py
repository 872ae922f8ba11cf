"""Compose volumes (a service's mounts and the top-level named volumes) as manifest ``volumes``."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from mooring.compose.draft import Draft, ServiceContext, Table
from mooring.compose.findings import Findings
from mooring.compose.values import slug

_MODE_KEPT = {"ro", "rw"}


def manifest_path(path: str, out_dir: Path) -> str:
    """A bind source as the manifest writes it: relative to the manifest (``./data``) when near it."""
    if path.startswith("~"):
        return path
    relative = os.path.relpath(path, out_dir)
    if relative == ".":
        return "."
    if relative.startswith("../.."):
        return path  # far from the manifest: an absolute path reads better and survives moving it
    return relative if relative.startswith("..") else f"./{relative}"


def convert_mounts(volumes: list[Any], ctx: ServiceContext) -> list[str]:
    out: list[str] = []
    for index, item in enumerate(volumes):
        key = ctx.key("volumes", index)
        mount = _long(item, key, ctx) if isinstance(item, dict) else _short(str(item), key, ctx)
        if mount:
            out.append(mount)
    return out


def _short(text: str, key: str, ctx: ServiceContext) -> str | None:
    parts = text.split(":")
    if len(parts) == 1:
        return _anonymous(parts[0], key, ctx)
    source, target = parts[0], parts[1]
    modes = set(",".join(parts[2:]).split(",")) - {""}
    return _mount(source, target, "ro" in modes, modes - _MODE_KEPT, key, ctx)


def _long(item: dict[str, Any], key: str, ctx: ServiceContext) -> str | None:
    kind = item.get("type", "volume")
    target = str(item.get("target", ""))
    if kind not in ("volume", "bind"):
        ctx.report(
            key,
            "unmapped",
            f"a {kind} mount is not supported",
            "use a named volume ([volume.NAME]) or a bind mount",
        )
        return None
    for extra in ("bind", "volume", "consistency", "tmpfs", "image"):
        if item.get(extra):
            ctx.report(
                f"{key}.{extra}",
                "unmapped",
                f"mount option {extra} = {item[extra]!r} is not set",
                "the engine's defaults apply",
            )
    source = item.get("source")
    if not source:
        return _anonymous(target, key, ctx)
    return _mount(str(source), target, bool(item.get("read_only")), set(), key, ctx)


def _mount(
    source: str, target: str, read_only: bool, other_modes: set[str], key: str, ctx: ServiceContext
) -> str:
    if other_modes:
        ctx.report(
            key,
            "unmapped",
            f"mount options {', '.join(sorted(other_modes))} are not set",
            "the engine's defaults apply",
        )
    if source.startswith(("/", "~", ".")):
        source_text = manifest_path(source, ctx.out_dir)
    else:
        source_text = ctx.volume_names.get(source) or _declare(source, key, ctx)
    return f"{source_text}:{target}" + (":ro" if read_only else "")


def _declare(compose_name: str, key: str, ctx: ServiceContext) -> str:
    """A volume used without a top-level declaration (Compose refuses that; the manifest declares it)."""
    name = _unique_volume_name(slug(compose_name), ctx.draft.volume)
    ctx.volume_names[compose_name] = name
    ctx.draft.volume[name] = Table(comments=[f"used by {ctx.key('volumes')} without a top-level declaration"])
    ctx.report(
        key,
        "changed",
        f"volume {compose_name!r} is not declared under top-level volumes; declared as [volume.{name}]",
    )
    return name


def _anonymous(target: str, key: str, ctx: ServiceContext) -> str:
    base = slug(f"{ctx.names[ctx.compose_name]}-{re.sub('[^a-z0-9]+', '-', target.lower())}")
    name = _unique_volume_name(base, ctx.draft.volume)
    ctx.draft.volume[name] = Table(
        comments=[f"the anonymous volume {ctx.key('volumes')} {target!r} of Compose"]
    )
    ctx.report(
        key,
        "changed",
        f"anonymous volume {target!r} becomes the named volume {name!r}, shared by every replica and kept across releases",
        "Compose makes a new anonymous volume per container",
    )
    return f"{name}:{target}"


def _unique_volume_name(base: str, taken: dict[str, Table]) -> str:
    name, n = base, 2
    while name in taken:
        name, n = f"{base[:60]}-{n}", n + 1
    return name


def convert_named_volumes(
    volumes: dict[str, Any], file: str, findings: Findings, draft: Draft
) -> dict[str, str]:
    """Top-level volumes as ``[volume.NAME]``; returns Compose name -> manifest name."""
    names: dict[str, str] = {}
    for compose_name, spec in volumes.items():
        name = _unique_volume_name(slug(compose_name), draft.volume)
        names[compose_name] = name
        table = Table()
        if name != compose_name:
            table.comments.append(f"Compose volume {compose_name!r}")
        spec = spec or {}
        key = f"volumes.{compose_name}"
        driver = spec.get("driver", "local")
        if driver != "local":
            findings.add(
                file,
                f"{key}.driver",
                "unmapped",
                f"volume driver {driver!r} is not supported; the local driver is used",
                "create the volume with that driver yourself and bind-mount its path",
            )
        if isinstance(spec.get("labels"), dict | list):
            labels = spec["labels"]
            if isinstance(labels, list):
                labels = dict(str(item).partition("=")[::2] for item in labels)
            table.set("labels", {str(k): str(v) for k, v in labels.items()})
        for extra, hint in (
            ("driver_opts", "create the volume yourself and bind-mount its path"),
            (
                "external",
                "mooring creates and owns its volumes (mooring-<app>-<name>); copy the data into it, or bind-mount the existing volume's path",
            ),
            ("name", "mooring names the engine volume mooring-<app>-<name>"),
        ):
            if spec.get(extra):
                findings.add(file, f"{key}.{extra}", "unmapped", f"{extra} is not supported", hint)
        draft.volume[name] = table
    return names
