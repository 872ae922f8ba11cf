"""Where the Docker-compatible engine answers: ``DOCKER_HOST``, mooring's engine config, or a standard socket."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

# Tried in order when nothing names an engine: Docker's socket, then podman's (root, then rootless).
STANDARD_SOCKETS = ("/var/run/docker.sock", "/run/podman/podman.sock")
ENGINE_CONFIG = "engine.toml"


@dataclass(frozen=True)
class EngineAddress:
    """A docker SDK ``base_url`` and where it came from, so errors and ``doctor`` can say why."""

    url: str
    source: str  # "DOCKER_HOST", "<path> [engine] docker_host" or "standard socket"

    def describe(self) -> str:
        return f"{self.url} (from {self.source})"


class EngineConfigError(ValueError):
    """``engine.toml`` exists but cannot be read or has a wrong ``[engine] docker_host``."""


def engine_config_value(home: Path | None, section: str, key: str, example: str) -> tuple[str, Path] | None:
    """``[section] key`` of ``$MOORING_HOME/engine.toml`` (a non-empty string) and the file, if set."""
    if home is None:
        return None
    path = home / ENGINE_CONFIG
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise EngineConfigError(f"{path}: cannot read it: {exc}") from None
    value = data.get(section, {}).get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise EngineConfigError(f"{path}: {section}.{key} must be a non-empty string such as {example}")
    return value, path


def configured_docker_host(home: Path | None) -> tuple[str, Path] | None:
    """``[engine] docker_host`` of ``$MOORING_HOME/engine.toml``, if set."""
    return engine_config_value(home, "engine", "docker_host", '"unix:///var/run/docker.sock"')


def rootless_podman_socket() -> str | None:
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR")
    return f"{runtime_dir}/podman/podman.sock" if runtime_dir else None


def resolve_address(home: Path | None = None) -> EngineAddress:
    """``DOCKER_HOST`` wins (as for the docker CLI), then ``[engine] docker_host``, then the first socket found."""
    env = os.environ.get("DOCKER_HOST")
    if env:
        return EngineAddress(env, "DOCKER_HOST")
    configured = configured_docker_host(home)
    if configured is not None:
        value, path = configured
        return EngineAddress(value, f"{path} [engine] docker_host")
    candidates = [*STANDARD_SOCKETS, rootless_podman_socket()]
    for socket_path in candidates:
        if socket_path and Path(socket_path).exists():
            return EngineAddress(f"unix://{socket_path}", "standard socket")
    return EngineAddress(f"unix://{STANDARD_SOCKETS[0]}", "default (no socket found)")
