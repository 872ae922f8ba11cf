"""Request and response bodies of the API (pydantic), so /openapi.json documents them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class EngineInfo(BaseModel):
    version: str
    pid: int
    home: str
    started_at: float
    instances: int


class UpRequest(BaseModel):
    snapshot: str = Field(description="canonical snapshot JSON of the manifest")
    secrets: dict[str, str] = Field(default_factory=dict, description="fingerprint -> secret value")
    services: list[str] | None = Field(default=None, description="only these services and their dependencies")
    manifest_path: str | None = None


class DownRequest(BaseModel):
    services: list[str] | None = None


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
    ports: dict[str, int]
    exit_code: int | None = None
    last_error: str | None = None
    limits: str | None = None
    release_id: str | None = None


class UpResult(BaseModel):
    app: str
    manifest_hash: str
    started: list[str]
    unchanged: list[str]
    failed: list[dict[str, Any]]
    instances: list[InstanceView]
