"""Where the Swarm manager answers: ``MOORING_SWARM_HOST``, or ``[cluster] manager`` in engine.toml."""

from __future__ import annotations

import os
from pathlib import Path

from mooring.runtime.container.address import ENGINE_CONFIG, EngineAddress, engine_config_value

ENV = "MOORING_SWARM_HOST"


def resolve_cluster_address(home: Path | None) -> EngineAddress | None:
    """The manager's Docker API address, or ``None`` when this engine has no cluster configured."""
    env = os.environ.get(ENV)
    if env:
        return EngineAddress(env, ENV)
    configured = engine_config_value(
        home, "cluster", "manager", '"tcp://10.0.0.1:2375" (a Swarm manager\'s Docker API address)'
    )
    if configured is None:
        return None
    value, path = configured
    return EngineAddress(value, f"{path} [cluster] manager")


def no_cluster_message(home: Path | None) -> str:
    where = f"{home / ENGINE_CONFIG}" if home is not None else "$MOORING_HOME/engine.toml"
    return (
        f"this engine has no Swarm cluster configured: set [cluster] manager in {where}"
        f" or {ENV} to a Swarm manager's Docker API address (docs/cluster.md)"
    )
