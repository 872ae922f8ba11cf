"""Token management routes (``/v1/tokens``): admin scope over TCP, open on the local unix socket."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from mooring.engine.tokens import ApiToken, Tokens
from mooring.errors import UsageError

# The store's vocabulary (store/tokens.py RESOURCE_SCOPES), declared here so a bad scope is a 422, not a 500.
ResourceScope = Literal[
    "apps:read", "apps:write", "secrets:write", "secrets:read", "audit:read", "tokens:admin"
]


class TokenCreate(BaseModel):
    scope: Literal["read", "write", "admin"] | None = Field(
        default=None,
        description="read: GET routes; write: read + apply, rollout control, rollback, down, secrets; "
        "admin: everything. Give this or scopes.",
    )
    scopes: list[ResourceScope] | None = Field(
        default=None,
        min_length=1,
        description="resource scopes: apps:read, apps:write, secrets:write, secrets:read, audit:read, tokens:admin",
    )
    apps: list[str] | None = Field(default=None, description="limit the token to these apps")
    ttl_seconds: float | None = Field(
        default=None, gt=0, le=10 * 365 * 86400, description="expire after this long"
    )
    name: str | None = Field(default=None, description="unique name (default: token-<id>)")


class TokenView(BaseModel):
    id: str
    name: str
    scope: str
    scopes: list[str] = Field(description="the resource scopes it grants (an old scope's equivalents)")
    apps: list[str] | None = Field(description="the apps it is limited to; null: every app")
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


class CreatedToken(TokenView):
    token: str = Field(description="the bearer secret; shown in this answer only, never stored")


def token_view(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "scope": token.scope,
        "scopes": sorted(token.effective_scopes),
        "apps": list(token.apps) if token.apps is not None else None,
        "created_at": token.created_at,
        "last_used_at": token.last_used_at,
        "expires_at": token.expires_at,
        "revoked_at": token.revoked_at,
    }


def token_routes(store: Tokens) -> APIRouter:
    """The routes over the engine's tokens."""
    router = APIRouter(prefix="/v1/tokens", tags=["tokens"])

    @router.get("", response_model=list[TokenView])
    async def list_tokens() -> list[dict[str, Any]]:
        """Every token (never its secret), oldest first, revoked ones included."""
        return [token_view(t) for t in store.list_tokens()]

    @router.post("", status_code=201, response_model=CreatedToken)
    async def create_token(body: TokenCreate) -> dict[str, Any]:
        """Create a token; the answer carries its secret, which cannot be shown again."""
        if (body.scope is None) == (body.scopes is None):
            raise UsageError(
                "give scope (read, write, admin) or scopes (apps:read, ...), not both or neither"
            )
        token, secret = store.create_token(
            body.scope or "custom",
            body.name,
            scopes=tuple(body.scopes) if body.scopes else None,
            apps=tuple(body.apps) if body.apps else None,
            ttl=timedelta(seconds=body.ttl_seconds) if body.ttl_seconds else None,
        )
        return {**token_view(token), "token": secret}

    @router.post("/{id_or_name}/revoke", response_model=TokenView)
    async def revoke_token(id_or_name: str) -> dict[str, Any]:
        """Revoke a token by id or name; it is refused from then on (401) and stays listed."""
        return token_view(store.revoke_token(id_or_name))

    return router
