"""Where the Swarm manager answers: ``MOORING_SWARM_HOST``, or ``[cluster] manager`` in engine.toml."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from mooring.runtime.container.address import ENGINE_CONFIG, EngineAddress, EngineConfigError

ENV = "MOORING_SWARM_HOST"


def resolve_cluster_address(home: Path | None) -> EngineAddress | None:
    """The manager's Docker API address, or ``None`` when this engine has no cluster configured."""
    env = os.environ.get(ENV)
    if env:
        return EngineAddress(env, ENV)
    if home is None:
        return None
    path = home / ENGINE_CONFIG
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise EngineConfigError(f"{path}: cannot read it: {exc}") from None
    value = data.get("cluster", {}).get("manager")
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise EngineConfigError(
            f'{path}: cluster.manager must be a Docker API address such as "tcp://10.0.0.1:2375"'
            ' or "unix:///var/run/docker.sock" of a Swarm manager'
        )
    return EngineAddress(value, f"{path} [cluster] manager")


def no_cluster_message(home: Path | None) -> str:
    where = f"{home / ENGINE_CONFIG}" if home is not None else "$MOORING_HOME/engine.toml"
    return (
        f"this engine has no Swarm cluster configured: set [cluster] manager in {where}"
        f" or {ENV} to a Swarm manager's Docker API address (docs/cluster.md)"
    )
