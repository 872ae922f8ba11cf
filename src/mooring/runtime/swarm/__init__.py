"""The Swarm driver: an app's container services on a Docker Swarm cluster (docs/cluster.md).

The driver imports the docker SDK, so it is loaded when first asked for (see container/__init__.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .spec import Healthcheck, SwarmSecretFile, SwarmSpec

if TYPE_CHECKING:
    from .driver import SwarmDriver

__all__ = ["Healthcheck", "SwarmDriver", "SwarmSecretFile", "SwarmSpec"]


def __getattr__(name: str) -> Any:
    if name == "SwarmDriver":
        from .driver import SwarmDriver

        return SwarmDriver
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
