"""Secret routes: set, list, version history and removal of an app's secrets; the key's rotation; the audit log.

Values go in, never out: the only answer that carries a value is ``GET .../secrets/NAME/value``
(scope secrets:read, which only admin tokens have), and it is audited (api/guards.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from mooring.api.guards import ACTOR_KEY, DETAIL_KEY
from mooring.api.schemas import AppName
from mooring.engine.secret_pins import references
from mooring.errors import Conflict, NotFound

if TYPE_CHECKING:
    from mooring.engine.core import Engine


class SecretSet(BaseModel):
    value: str = Field(description="the new value; it is encrypted at once and never returned")


class SecretVersionView(BaseModel):
    name: str
    version: int
    created_at: datetime
    created_by: str


class SecretView(BaseModel):
    name: str
    version: int = Field(description="the newest version")
    versions: int = Field(description="how many versions are kept")
    updated_at: datetime
    updated_by: str
    used_by: list[str] = Field(description="workloads of the app's latest release that reference it")
    used_version: dict[str, int] = Field(description="workload -> the version its release pinned")


class SecretValue(BaseModel):
    name: str
    version: int
    value: str


class KeyRotation(BaseModel):
    key_id: str
    reencrypted: int


class AuditView(BaseModel):
    id: int
    at: datetime
    actor: str
    source: str
    action: str
    app: str | None
    outcome: str
    status: int | None
    detail: str


def _actor(request: Request) -> str:
    return str(getattr(request.state, ACTOR_KEY, "anonymous"))


def make_secret_router(engine: Engine) -> APIRouter:
    router = APIRouter(tags=["secrets"])
    store = engine.store

    def latest_snapshot(app: str) -> dict[str, Any]:
        release = store.latest_release(app)
        return engine.snapshots.data(release.id) if release else {}  # decoded once, shared: read only

    @router.get("/v1/apps/{app_name}/secrets", response_model=list[SecretView])
    async def list_secrets(app_name: AppName) -> list[dict[str, Any]]:
        """Every secret of the app: newest version, when and by whom, which workloads use it."""
        snapshot = latest_snapshot(app_name)
        used = references(snapshot)
        rows: dict[str, dict[str, Any]] = {}
        for v in store.secret_versions(app_name):
            rows[v.name] = {
                "name": v.name,
                "version": v.version,
                "versions": rows.get(v.name, {}).get("versions", 0) + 1,
                "updated_at": v.created_at,
                "updated_by": v.created_by,
                "used_by": used.get(v.name, []),
                "used_version": _pinned(snapshot, v.name),
            }
        return list(rows.values())

    @router.post("/v1/apps/{app_name}/secrets/{name}", status_code=201, response_model=SecretVersionView)
    async def set_secret(app_name: AppName, name: str, body: SecretSet, request: Request) -> dict[str, Any]:
        """Add a version of the secret (its first, if new); `mooring up` then replaces its users."""
        made = store.set_secret(app_name, name, body.value, _actor(request))
        setattr(request.state, DETAIL_KEY, f"secret {name} v{made.version}")
        return {
            "name": name,
            "version": made.version,
            "created_at": made.created_at,
            "created_by": made.created_by,
        }

    @router.get("/v1/apps/{app_name}/secrets/{name}/versions", response_model=list[SecretVersionView])
    async def versions(app_name: AppName, name: str) -> list[dict[str, Any]]:
        """Every kept version of the secret, oldest first (never a value)."""
        found = store.secret_versions(app_name, name)
        if not found:
            raise NotFound(
                f"app {app_name!r} has no secret {name}", hint=f"mooring secret list --app {app_name}"
            )
        return [
            {"name": v.name, "version": v.version, "created_at": v.created_at, "created_by": v.created_by}
            for v in found
        ]

    @router.get("/v1/apps/{app_name}/secrets/{name}/value", response_model=SecretValue)
    async def reveal(
        app_name: AppName, name: str, request: Request, version: Annotated[int | None, Query(ge=1)] = None
    ) -> dict[str, Any]:
        """The value of one version (default: the newest). Scope secrets:read; every call is audited."""
        if version is None:
            known = [v.version for v in store.secret_versions(app_name, name)]
            version = max(known) if known else 1
        setattr(request.state, DETAIL_KEY, f"revealed secret {name} v{version}")
        return {"name": name, "version": version, "value": store.secret_value(app_name, name, version)}

    @router.delete("/v1/apps/{app_name}/secrets/{name}")
    async def remove(app_name: AppName, name: str, request: Request) -> dict[str, Any]:
        """Delete every version; refused while the app's latest release references the secret."""
        users = references(latest_snapshot(app_name)).get(name)
        if users:
            raise Conflict(
                f"secret {name} of app {app_name!r} is used by {', '.join(users)} in the latest release",
                hint="remove it from their secrets in the manifest and run mooring up first",
            )
        removed = store.remove_secret(app_name, name)
        setattr(request.state, DETAIL_KEY, f"removed secret {name} ({removed} versions)")
        return {"name": name, "removed_versions": removed}

    @router.post("/v1/secrets/rotate-key", response_model=KeyRotation)
    async def rotate_key() -> dict[str, Any]:
        """Re-encrypt every secret under a new key; instances keep running (they hold their values)."""
        key_id, count = store.rotate_key()
        return {"key_id": key_id, "reencrypted": count}

    @router.get("/v1/audit", response_model=list[AuditView])
    async def audit(
        app: str | None = None,
        since: datetime | None = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    ) -> list[dict[str, Any]]:
        """Audit entries, oldest first: who changed what through the API, from where, and the outcome."""
        return [
            {
                "id": e.id,
                "at": e.at,
                "actor": e.actor,
                "source": e.source,
                "action": e.action,
                "app": e.app,
                "outcome": e.outcome,
                "status": e.status,
                "detail": e.detail,
            }
            for e in store.audit_entries(app, since, limit)
        ]

    return router


def _pinned(snapshot: dict[str, Any], secret: str) -> dict[str, int]:
    out = {}
    for kind in ("service", "worker", "cron"):
        for name, section in (snapshot.get(kind) or {}).items():
            ref = (section.get("secrets") or {}).get(secret)
            if ref and ref.get("version") is not None:
                out[f"{kind}.{name}"] = int(ref["version"])
    return out
