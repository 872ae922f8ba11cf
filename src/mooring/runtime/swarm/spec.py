"""What one instance on a Swarm cluster is: a container spec plus where and how Swarm may run it."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mooring.runtime.container.spec import ContainerSpec
from mooring.runtime.errors import InvalidSpec


@dataclass(frozen=True)
class Healthcheck:
    """A Docker healthcheck for the task: Swarm holds a task in ``starting`` until it passes, and
    restarts the task when it fails ``retries`` times, so readiness on the cluster is the task's."""

    command: tuple[str, ...]
    interval: float = 10.0
    timeout: float = 5.0
    retries: int = 3
    start_period: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": list(self.command),
            "interval": self.interval,
            "timeout": self.timeout,
            "retries": self.retries,
            "start_period": self.start_period,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Healthcheck:
        return cls(
            command=tuple(data["command"]),
            interval=float(data.get("interval", 10.0)),
            timeout=float(data.get("timeout", 5.0)),
            retries=int(data.get("retries", 3)),
            start_period=float(data.get("start_period", 0.0)),
        )


@dataclass(frozen=True)
class SwarmSecretFile:
    """A secret the task reads as ``/run/secrets/<file>``: one Swarm secret per pinned version.

    Swarm secrets are immutable, as versions are; ``value`` is needed only to create one and is
    never part of the persisted spec.
    """

    file: str
    app: str
    secret: str
    version: int
    value: str = field(default="", repr=False, compare=False)

    def swarm_name(self, home_label: str) -> str:
        """Unique per engine (two installations may both have an app ``shop`` with a ``v3``)."""
        engine = hashlib.sha256(home_label.encode()).hexdigest()[:8]
        return f"mooring-{self.app}-{self.secret}-v{self.version}-{engine}"[-64:].lstrip("-.")

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "app": self.app, "secret": self.secret, "version": self.version}


@dataclass(frozen=True)
class SwarmSpec:
    """One replica slot of one service on the cluster.

    ``container.ports`` lists the container ports to publish; on the cluster each is published in
    host mode on a port the node picks (there is no routing mesh here: see docs/cluster.md), and the
    record says which node and port the running task got.
    """

    container: ContainerSpec
    constraints: tuple[str, ...] = ()
    spread: tuple[str, ...] = ()  # placement preferences: spread over these node labels
    network: str | None = None  # the app's overlay network (created on first use)
    healthcheck: Healthcheck | None = None
    secret_files: tuple[SwarmSecretFile, ...] = ()

    driver = "swarm"

    def __post_init__(self) -> None:
        for constraint in self.constraints:
            if not any(op in constraint for op in ("==", "!=")):
                raise InvalidSpec(
                    f"instance {self.instance_id}: placement constraint {constraint!r} needs == or !="
                    " (e.g. node.role==worker, node.labels.zone==a)"
                )

    @property
    def instance_id(self) -> str:
        return self.container.instance_id

    @property
    def service_name(self) -> str:
        """The Swarm service of this slot: ``mooring-<app>-<instance id>``, unique per started version."""
        return self.container.container_name

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.container.to_dict(),
            "driver": self.driver,
            "constraints": list(self.constraints),
            "spread": list(self.spread),
            "network": self.network,
            "healthcheck": self.healthcheck.to_dict() if self.healthcheck else None,
            "secret_files": [s.to_dict() for s in self.secret_files],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SwarmSpec:
        health = data.get("healthcheck")
        return cls(
            container=ContainerSpec.from_dict(data),
            constraints=tuple(data.get("constraints") or ()),
            spread=tuple(data.get("spread") or ()),
            network=data.get("network"),
            healthcheck=Healthcheck.from_dict(health) if health else None,
            secret_files=tuple(
                SwarmSecretFile(s["file"], s["app"], s["secret"], int(s["version"]))
                for s in data.get("secret_files") or ()
            ),
        )
