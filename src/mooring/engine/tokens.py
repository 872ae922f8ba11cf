"""The API tokens the engine keeps: the one port of the store that the API's auth and token routes use."""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol

from mooring.store.tokens import LEGACY_SCOPES, RESOURCE_SCOPES, ApiToken

__all__ = ["LEGACY_SCOPES", "RESOURCE_SCOPES", "ApiToken", "Tokens"]


class Tokens(Protocol):
    """Bearer tokens of the TCP listener (kept by the store; see docs/remote.md)."""

    def token_for_secret(self, secret: str) -> ApiToken | None: ...

    def mark_token_used(self, token_id: str) -> None: ...

    def list_tokens(self) -> list[ApiToken]: ...

    def create_token(
        self,
        scope: str,
        name: str | None = None,
        *,
        scopes: tuple[str, ...] | None = None,
        apps: tuple[str, ...] | None = None,
        ttl: timedelta | None = None,
    ) -> tuple[ApiToken, str]: ...

    def revoke_token(self, id_or_name: str) -> ApiToken: ...
