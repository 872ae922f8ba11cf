"""Request and response bodies of the API (pydantic), so /openapi.json documents them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import BaseModel, Field

from mooring.engine.vocabulary import NAME_PATTERN

MAX_SEQ = 2**62  # release numbers, event numbers and counts fit a signed 64-bit column
AppName = Annotated[
    str, Path(pattern=NAME_PATTERN, description="the app's name: lowercase letters, digits and dashes")
]


class EngineInfo(BaseModel):
    version: str
    pid: int
    home: str
    started_at: float
    instances: int
    # engines sharing PostgreSQL (docs/cluster.md): this one's role, and the cluster as the store sees it
    role: Literal["leader", "follower"] | None = None
    cluster: dict[str, Any] | None = None


def snapshot_field() -> Any:
    """The snapshot: JSON text, so at least ``{}`` (an empty string is refused by the schema, not later)."""
    return Field(
        min_length=2,
        description="canonical snapshot JSON of the manifest",
        json_schema_extra={"contentMediaType": "application/json"},
    )


class UpRequest(BaseModel):
    snapshot: str = snapshot_field()
    secrets: dict[str, str] = Field(default_factory=dict, description="fingerprint -> secret value")
    services: list[str] | None = Field(default=None, description="only these services and their dependencies")
    wait_lock: float | None = Field(
        default=None, ge=0, description="seconds to wait for another apply to finish"
    )
    force: bool = Field(
        default=False,
        description="replace the instances of the chosen services even when nothing changed (up --force)",
    )


class PlanRequest(BaseModel):
    snapshot: str = snapshot_field()
    services: list[str] | None = Field(default=None, description="only these services and their dependencies")


class DownRequest(BaseModel):
    services: list[str] | None = None
    wait_lock: float | None = Field(default=None, ge=0)


class RollbackRequest(BaseModel):
    release_id: str | None = Field(
        default=None, description="the release to restore (default: previous successful)"
    )
    wait_lock: float | None = Field(default=None, ge=0)


class InstanceView(BaseModel):
    id: str
    app: str
    service: str
    replica: int
    driver: str
    state: str
    health: str | None
    pid: int | None
    restarts: int
    uptime: float | None
    cpu_percent: float | None
    memory_bytes: int | None
    ports: dict[str, int] = Field(description="instance port (declared) -> the port the instance listens on")
    published: dict[str, str] = Field(
        default_factory=dict, description="instance port -> HOST_IP:HOST_PORT the edge publishes it on"
    )
    upstream: str | None = None
    serving: bool = False
    proxy: dict[str, int] | None = None
    exit_code: int | None = None
    last_error: str | None = None
    limits: str | None = None
    release_id: str | None = None
    node: str | None = None  # the Swarm node a cluster instance's task runs on
