"""What one container instance is: the resolved input the engine hands the container driver."""

from __future__ import annotations

import math
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, cast

from mooring.runtime.errors import InvalidSpec
from mooring.runtime.spec import RESTART_POLICIES, Resources, RestartPolicy, check_name

# Labels on every container mooring creates: adoption and `down` find mooring's containers by them,
# and never touch a container without them.
LABEL_APP = "mooring.app"
LABEL_SERVICE = "mooring.service"
LABEL_RELEASE = "mooring.release"
LABEL_INSTANCE = "mooring.instance"
LABEL_REPLICA = "mooring.replica"
LABEL_HOME = "mooring.home"  # which engine (its MOORING_HOME) owns it, when engines share one dockerd

MountKind = Literal["volume", "bind"]


@dataclass(frozen=True)
class Mount:
    """A named engine volume (``source`` already prefixed by the app) or a bind mount of a host path."""

    kind: MountKind
    source: str
    target: str
    read_only: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "source": self.source, "target": self.target, "read_only": self.read_only}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Mount:
        return cls(
            kind=cast(MountKind, data["kind"]),
            source=data["source"],
            target=data["target"],
            read_only=bool(data.get("read_only", False)),
        )


@dataclass(frozen=True)
class ContainerSpec:
    """One replica slot of one image-based service, resolved.

    ``ports`` maps each declared container port to the host port on 127.0.0.1 the engine publishes
    it on (chosen by mooring, so it stays the same across restarts and is known before the start).
    ``command`` ``None`` runs the image's own entrypoint and command.
    """

    instance_id: str
    app: str
    service: str
    replica: int
    release_id: str
    spec_hash: str
    image: str
    command: tuple[str, ...] | None
    env: Mapping[str, str] = field(hash=False)
    working_dir: str | None = None
    ports: Mapping[int, int] = field(default_factory=dict, hash=False)
    mounts: tuple[Mount, ...] = ()
    restart: RestartPolicy = "on-failure"
    max_restarts: int = 5
    stop_signal: int = int(signal.SIGTERM)
    stop_timeout: float = 10.0
    resources: Resources = field(default_factory=Resources)
    user: str | None = None  # docker's "user[:group]", resolved inside the image
    group_add: tuple[str, ...] = ()  # supplementary groups
    image_id: str | None = None  # the content id the release pinned ``image`` to (engine/image_pins.py)

    driver = "container"

    def __post_init__(self) -> None:
        check_name("instance id", self.instance_id)
        check_name("app name", self.app)
        if not self.image:
            raise InvalidSpec(f"instance {self.instance_id}: image is empty")
        if self.command is not None:
            object.__setattr__(self, "command", tuple(self.command))
        if self.restart not in RESTART_POLICIES:
            raise InvalidSpec(
                f"instance {self.instance_id}: restart must be one of {', '.join(RESTART_POLICIES)},"
                f" got {self.restart!r}"
            )
        if self.max_restarts < 0:
            raise InvalidSpec(f"instance {self.instance_id}: max_restarts must be >= 0")
        if not (self.stop_timeout >= 0 and math.isfinite(self.stop_timeout)):
            raise InvalidSpec(f"instance {self.instance_id}: stop_timeout must be >= 0 seconds")
        object.__setattr__(self, "env", MappingProxyType(dict(self.env)))
        object.__setattr__(self, "ports", MappingProxyType({int(k): int(v) for k, v in self.ports.items()}))
        object.__setattr__(self, "mounts", tuple(self.mounts))
        object.__setattr__(self, "group_add", tuple(self.group_add))

    @property
    def container_name(self) -> str:
        """``mooring-<app>-<instance id>``: unique per started version, readable in ``docker ps``."""
        return container_name(self.app, self.instance_id)

    @property
    def labels(self) -> dict[str, str]:
        return {
            LABEL_APP: self.app,
            LABEL_SERVICE: self.service,
            LABEL_RELEASE: self.release_id,
            LABEL_INSTANCE: self.instance_id,
            LABEL_REPLICA: str(self.replica),
        }

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what the engine persists inside an instance record)."""
        return {
            "driver": self.driver,
            "instance_id": self.instance_id,
            "app": self.app,
            "service": self.service,
            "replica": self.replica,
            "release_id": self.release_id,
            "spec_hash": self.spec_hash,
            "image": self.image,
            "command": list(self.command) if self.command is not None else None,
            "env": dict(self.env),
            "working_dir": self.working_dir,
            "ports": {str(k): v for k, v in self.ports.items()},
            "mounts": [m.to_dict() for m in self.mounts],
            "restart": self.restart,
            "max_restarts": self.max_restarts,
            "stop_signal": self.stop_signal,
            "stop_timeout": self.stop_timeout,
            "resources": self.resources.to_dict(),
            "user": self.user,
            "group_add": list(self.group_add),
            "image_id": self.image_id,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ContainerSpec:
        """The inverse of :meth:`to_dict`."""
        command = data.get("command")
        return cls(
            instance_id=data["instance_id"],
            app=data["app"],
            service=data["service"],
            replica=int(data["replica"]),
            release_id=data["release_id"],
            spec_hash=data["spec_hash"],
            image=data["image"],
            command=tuple(command) if command is not None else None,
            env=dict(data["env"]),
            working_dir=data.get("working_dir"),
            ports={int(k): int(v) for k, v in (data.get("ports") or {}).items()},
            mounts=tuple(Mount.from_dict(m) for m in data.get("mounts") or ()),
            restart=cast(RestartPolicy, data.get("restart", "on-failure")),
            max_restarts=int(data.get("max_restarts", 5)),
            stop_signal=int(data.get("stop_signal", signal.SIGTERM)),
            stop_timeout=float(data.get("stop_timeout", 10.0)),
            resources=Resources.from_dict(data.get("resources") or {}),
            user=data.get("user"),
            group_add=tuple(data.get("group_add") or ()),
            image_id=data.get("image_id"),
        )


def container_name(app: str, instance_id: str) -> str:
    return f"mooring-{app}-{instance_id}"
