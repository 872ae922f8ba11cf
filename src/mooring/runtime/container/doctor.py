"""What ``mooring doctor`` reports about this host's container engine, cgroups and runc."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from .address import (
    STANDARD_SOCKETS,
    EngineConfigError,
    configured_docker_host,
    resolve_address,
    rootless_podman_socket,
)


def diagnose(home: Path) -> dict[str, Any]:
    """A JSON-ready report; ``reachable`` says whether a container engine answered."""
    report: dict[str, Any] = {
        "docker_host_env": os.environ.get("DOCKER_HOST"),
        "engine_config": None,
        "standard_sockets": {
            path: Path(path).exists() for path in [*STANDARD_SOCKETS, rootless_podman_socket()] if path
        },
        "address": None,
        "address_source": None,
        "reachable": False,
        "error": None,
        "engine": None,
        "cgroup": host_cgroup(),
        "runc": runc_version(),
    }
    try:
        configured = configured_docker_host(home)
        report["engine_config"] = (
            {"path": str(configured[1]), "docker_host": configured[0]} if configured else None
        )
        address = resolve_address(home)
    except EngineConfigError as exc:
        report["error"] = str(exc)
        return report
    report["address"], report["address_source"] = address.url, address.source
    try:
        from . import engine_api

        client = engine_api.connect(address)
        version = engine_api.version(client)
        info = dict(client.info())
    except Exception as exc:
        report["error"] = getattr(exc, "message", None) or str(exc)
        return report
    report["reachable"] = True
    report["engine"] = {
        "name": engine_name(version),
        "version": version.get("Version"),
        "api_version": version.get("ApiVersion"),
        "os": f"{version.get('Os')}/{version.get('Arch')}",
        "cgroup_driver": info.get("CgroupDriver"),
        "cgroup_version": info.get("CgroupVersion"),
        "default_runtime": info.get("DefaultRuntime"),
        "init_binary": info.get("InitBinary"),
    }
    return report


def engine_name(version: dict[str, Any]) -> str:
    """ "Podman Engine", "Docker Engine - Community", ...: from the components the engine lists."""
    platform = (version.get("Platform") or {}).get("Name")
    components = [c.get("Name", "") for c in version.get("Components") or []]
    if any("podman" in name.lower() for name in [platform or "", *components]):
        return "Podman"
    return platform or (components[0] if components else "Docker Engine")


def host_cgroup() -> dict[str, Any]:
    """cgroup v2 (unified) or v1, and the controllers the host offers."""
    root = Path("/sys/fs/cgroup")
    unified = root / "cgroup.controllers"
    if unified.exists():
        return {"version": 2, "controllers": unified.read_text().split()}
    controllers = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.exists() else []
    return {"version": 1 if controllers else None, "controllers": controllers}


def runc_version() -> dict[str, Any]:
    path = shutil.which("runc")
    if path is None:
        return {"path": None, "version": None}
    try:
        first = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"path": path, "version": None, "error": str(exc)}
    return {"path": path, "version": first.splitlines()[0] if first else None}
