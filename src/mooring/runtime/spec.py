"""What one instance is: the fully resolved input the engine hands the runtime.

The engine translates the manifest into these; the runtime never reads the manifest itself.
"""

from __future__ import annotations

import math
import re
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, cast

from .errors import InvalidSpec

RestartPolicy = Literal["no", "always", "on-failure"]
RESTART_POLICIES: tuple[RestartPolicy, ...] = ("no", "always", "on-failure")

# Instance ids and app names become file and cgroup names, so they must be one safe path component.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$")


def check_name(what: str, value: str) -> None:
    """Refuse a name that cannot be used as a single file or cgroup directory name."""
    if not _SAFE_NAME.match(value):
        raise InvalidSpec(
            f"{what} {value!r} cannot be used as a file or cgroup name",
            hint="use letters, digits, '_', '.' or '-', not starting with '.' or '-' (at most 200)",
        )


@dataclass(frozen=True)
class Resources:
    """Resource limits of one instance; ``None`` means no limit."""

    cpu: float | None = None  # cores, e.g. 0.5
    memory: int | None = None  # bytes
    pids: int | None = None  # processes and threads

    def __post_init__(self) -> None:
        if self.cpu is not None and not (math.isfinite(self.cpu) and self.cpu > 0):
            raise InvalidSpec(f"resources.cpu must be a positive number of cores, got {self.cpu!r}")
        if self.memory is not None and self.memory < 1024 * 1024:
            raise InvalidSpec(f"resources.memory must be at least 1 MiB, got {self.memory!r} bytes")
        if self.pids is not None and self.pids < 1:
            raise InvalidSpec(f"resources.pids must be at least 1, got {self.pids!r}")

    @property
    def requested(self) -> bool:
        """Whether any limit is asked for."""
        return self.cpu is not None or self.memory is not None or self.pids is not None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"cpu": self.cpu, "memory": self.memory, "pids": self.pids}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Resources:
        """The inverse of :meth:`to_dict`."""
        return cls(cpu=data.get("cpu"), memory=data.get("memory"), pids=data.get("pids"))


@dataclass(frozen=True)
class InstanceSpec:
    """One replica slot of one service, resolved: argv, full environment, limits and policies.

    ``env`` is the complete environment of the process (the engine adds ``PORT`` and the
    ``MOORING_*`` identity variables); nothing of the engine's own environment leaks in.
    """

    driver = "process"

    instance_id: str
    app: str
    service: str
    replica: int
    release_id: str
    spec_hash: str
    command: tuple[str, ...]
    # Excluded from the hash only because mappings are unhashable; it still takes part in equality.
    env: Mapping[str, str] = field(hash=False)
    working_dir: str
    restart: RestartPolicy = "on-failure"
    max_restarts: int = 5
    stop_signal: int = int(signal.SIGTERM)
    stop_timeout: float = 10.0
    resources: Resources = field(default_factory=Resources)
    # Who the process runs as (numeric, resolved by the engine): None keeps the engine's identity.
    uid: int | None = None
    gid: int | None = None
    groups: tuple[int, ...] | None = None  # supplementary groups (None: unchanged)
    # The instance's own directory (rendered templates live there; removed with the instance) and
    # the files rendered into it: relative path -> content.
    instance_dir: str | None = None
    files: Mapping[str, str] = field(default_factory=dict, hash=False)
    data_dir: str | None = None  # the service's state, made (owned by uid) when missing

    def __post_init__(self) -> None:
        check_name("instance id", self.instance_id)
        check_name("app name", self.app)
        object.__setattr__(self, "command", tuple(self.command))
        if self.groups is not None:
            object.__setattr__(self, "groups", tuple(self.groups))
        object.__setattr__(self, "files", MappingProxyType(dict(self.files)))
        if self.files and not self.instance_dir:
            raise InvalidSpec(f"instance {self.instance_id}: files need an instance_dir")
        if not self.command or not self.command[0]:
            raise InvalidSpec(f"instance {self.instance_id}: command is empty")
        if self.restart not in RESTART_POLICIES:
            raise InvalidSpec(
                f"instance {self.instance_id}: restart must be one of {', '.join(RESTART_POLICIES)},"
                f" got {self.restart!r}"
            )
        if self.max_restarts < 0:
            raise InvalidSpec(f"instance {self.instance_id}: max_restarts must be >= 0")
        if not (self.stop_timeout >= 0 and math.isfinite(self.stop_timeout)):
            raise InvalidSpec(f"instance {self.instance_id}: stop_timeout must be >= 0 seconds")
        try:
            signal.Signals(self.stop_signal)
        except ValueError:
            raise InvalidSpec(
                f"instance {self.instance_id}: stop_signal {self.stop_signal} is not a signal number"
            ) from None
        # A private read-only copy: a caller mutating its dict later must not change this spec.
        env = dict(self.env)
        object.__setattr__(self, "env", MappingProxyType(env))
        object.__setattr__(self, "_env", env)  # the same dict, for shared_dict() (no second copy)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what the engine persists inside an instance record)."""
        return {
            "instance_id": self.instance_id,
            "app": self.app,
            "service": self.service,
            "replica": self.replica,
            "release_id": self.release_id,
            "spec_hash": self.spec_hash,
            "command": list(self.command),
            "env": dict(self.env),
            "working_dir": self.working_dir,
            "restart": self.restart,
            "max_restarts": self.max_restarts,
            "stop_signal": self.stop_signal,
            "stop_timeout": self.stop_timeout,
            "resources": self.resources.to_dict(),
            "uid": self.uid,
            "gid": self.gid,
            "groups": list(self.groups) if self.groups is not None else None,
            "instance_dir": self.instance_dir,
            "files": dict(self.files),
            "data_dir": self.data_dir,
        }

    def shared_dict(self) -> dict[str, Any]:
        """:meth:`to_dict`, made once per spec and shared by every record made from it.

        Records carry their spec (for adoption) and are replaced on every state change; a copy per
        start was ~0.8 KiB per instance. Read-only by convention: use :meth:`to_dict` to change one.
        """
        shared: dict[str, Any] | None = self.__dict__.get("_shared_dict")
        if shared is None:
            shared = self.to_dict()
            shared["env"] = self.__dict__["_env"]
            object.__setattr__(self, "_shared_dict", shared)
        return shared

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InstanceSpec:
        """The inverse of :meth:`to_dict`."""
        return cls(
            instance_id=data["instance_id"],
            app=data["app"],
            service=data["service"],
            replica=int(data["replica"]),
            release_id=data["release_id"],
            spec_hash=data["spec_hash"],
            command=tuple(data["command"]),
            env=dict(data["env"]),
            working_dir=data["working_dir"],
            restart=cast(RestartPolicy, data.get("restart", "on-failure")),
            max_restarts=int(data.get("max_restarts", 5)),
            stop_signal=int(data.get("stop_signal", signal.SIGTERM)),
            stop_timeout=float(data.get("stop_timeout", 10.0)),
            resources=Resources.from_dict(data.get("resources") or {}),
            uid=data.get("uid"),
            gid=data.get("gid"),
            groups=tuple(data["groups"]) if data.get("groups") is not None else None,
            instance_dir=data.get("instance_dir"),
            files=dict(data.get("files") or {}),
            data_dir=data.get("data_dir"),
        )
