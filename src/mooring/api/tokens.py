"""Token management routes (``/v1/tokens``): admin scope over TCP, open on the local unix socket."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from mooring.engine.tokens import ApiToken, Tokens


class TokenCreate(BaseModel):
    scope: Literal["read", "write", "admin"] = Field(
        description="read: GET routes; write: read + apply, rollout control, rollback, down; admin: everything"
    )
    name: str | None = Field(default=None, description="unique name (default: token-<id>)")


class TokenView(BaseModel):
    id: str
    name: str
    scope: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class CreatedToken(TokenView):
    token: str = Field(description="the bearer secret; shown in this answer only, never stored")


def token_view(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "scope": token.scope,
        "created_at": token.created_at,
        "last_used_at": token.last_used_at,
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
        token, secret = store.create_token(body.scope, body.name)
        return {**token_view(token), "token": secret}

    @router.post("/{id_or_name}/revoke", response_model=TokenView)
    async def revoke_token(id_or_name: str) -> dict[str, Any]:
        """Revoke a token by id or name; it is refused from then on (401) and stays listed."""
        return token_view(store.revoke_token(id_or_name))

    return router
