"""The Swarm driver: an app's container services on a Docker Swarm cluster (docs/cluster.md)."""

from .driver import SwarmDriver
from .spec import Healthcheck, SwarmSecretFile, SwarmSpec

__all__ = ["Healthcheck", "SwarmDriver", "SwarmSecretFile", "SwarmSpec"]
