"""Bearer tokens of the engine's TCP listener: created with a random secret, kept only as its sha256."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select

from mooring.errors import Conflict, NotFound, UsageError
from mooring.store.base import StoreBase, check_choice
from mooring.store.columns import utcnow
from mooring.store.tables import TOKEN_SCOPES, ApiTokenRow

TOKEN_PREFIX = "mooring_"
# Per-resource scopes (docs/remote.md); the old nested scopes are sets of them.
RESOURCE_SCOPES = ("apps:read", "apps:write", "secrets:write", "secrets:read", "audit:read", "tokens:admin")
LEGACY_SCOPES: dict[str, tuple[str, ...]] = {
    "read": ("apps:read",),
    "write": ("apps:read", "apps:write", "secrets:write"),
    "admin": RESOURCE_SCOPES,
}
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A token as recorded: never its secret, which exists only in the answer that created it."""

    id: str
    name: str
    scope: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    scopes: tuple[str, ...] = ()
    apps: tuple[str, ...] | None = None
    expires_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def effective_scopes(self) -> frozenset[str]:
        """What the token may do: its resource scopes, or those its old nested scope stands for."""
        return frozenset(self.scopes or LEGACY_SCOPES.get(self.scope, ()))

    def describe_scopes(self) -> str:
        text = self.scope if self.scope != "custom" else " ".join(self.scopes)
        return text + (f" (apps {', '.join(self.apps)})" if self.apps is not None else "")


def secret_digest(secret: str) -> str:
    """What the store keeps of a secret: its sha256, hex (the secret is random, so no salt is needed)."""
    return hashlib.sha256(secret.encode()).hexdigest()


class TokenRepository(StoreBase):
    """Create, find, list and revoke API tokens."""

    def create_token(
        self,
        scope: str,
        name: str | None = None,
        *,
        scopes: tuple[str, ...] | None = None,
        apps: tuple[str, ...] | None = None,
        ttl: timedelta | None = None,
    ) -> tuple[ApiToken, str]:
        """A new token and its secret; the secret is not stored and cannot be shown again.

        ``scope`` is read|write|admin, or ``custom`` with ``scopes`` naming resource scopes;
        ``apps`` limits it to those apps; ``ttl`` makes it expire.
        """
        check_choice("token scope", scope, TOKEN_SCOPES)
        if scopes:
            for one in scopes:
                check_choice("token scope", one, RESOURCE_SCOPES)
            scope = "custom"
        elif scope == "custom":
            raise UsageError("a custom token needs its scopes", hint="e.g. --scope apps:read")
        if ttl is not None and ttl.total_seconds() <= 0:
            raise UsageError("a token's --ttl must be longer than 0s")
        token_id = secrets.token_hex(6)
        name = name or f"token-{token_id}"
        if not NAME_PATTERN.fullmatch(name):
            raise UsageError(
                f"token name {name!r} is not allowed",
                hint="use 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit",
            )
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._write(f"create token {name!r}") as session:
            taken = session.scalars(select(ApiTokenRow).where(ApiTokenRow.name == name)).one_or_none()
            if taken is not None:
                state = "revoked" if taken.revoked_at else f"scope {taken.scope}"
                raise Conflict(
                    f"a token named {name!r} already exists (id {taken.id}, {state})",
                    hint="choose another --name; `mooring token list` shows the names in use",
                )
            row = ApiTokenRow(
                id=token_id,
                name=name,
                scope=scope,
                secret_sha256=secret_digest(secret),
                created_at=utcnow(),
                last_used_at=None,
                revoked_at=None,
                scopes=sorted(set(scopes)) if scopes else None,
                apps=sorted(set(apps)) if apps else None,
                expires_at=utcnow() + ttl if ttl is not None else None,
            )
            session.add(row)
            session.flush()
            return _record(row), secret

    def token_for_secret(self, secret: str) -> ApiToken | None:
        """The token whose secret this is (revoked or not), or None when no token has it."""
        with self._read("look up a token") as session:
            row = session.scalars(
                select(ApiTokenRow).where(ApiTokenRow.secret_sha256 == secret_digest(secret))
            ).one_or_none()
            return None if row is None else _record(row)

    def mark_token_used(self, token_id: str, at: datetime | None = None) -> None:
        """Record when the token was last presented."""
        with self._write(f"record use of token {token_id}", fenced=False) as session:
            row = session.get(ApiTokenRow, token_id)
            if row is not None:
                row.last_used_at = at or utcnow()

    def list_tokens(self) -> list[ApiToken]:
        """Every token, oldest first, revoked ones included (they stay as a record)."""
        with self._read("list tokens") as session:
            rows = session.scalars(select(ApiTokenRow).order_by(ApiTokenRow.created_at, ApiTokenRow.id))
            return [_record(row) for row in rows]

    def revoke_token(self, id_or_name: str) -> ApiToken:
        """Revoke the token with this id or name; revoking a revoked token keeps its first revocation time."""
        with self._write(f"revoke token {id_or_name!r}") as session:
            row = session.scalars(
                select(ApiTokenRow).where(or_(ApiTokenRow.id == id_or_name, ApiTokenRow.name == id_or_name))
            ).first()
            if row is None:
                raise NotFound(
                    f"no token with id or name {id_or_name!r}",
                    hint="`mooring token list` shows every token's id and name",
                )
            if row.revoked_at is None:
                row.revoked_at = utcnow()
            session.flush()
            return _record(row)


def _record(row: ApiTokenRow) -> ApiToken:
    return ApiToken(
        id=row.id,
        name=row.name,
        scope=row.scope,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
        scopes=tuple(row.scopes or ()),
        apps=tuple(row.apps) if row.apps is not None else None,
        expires_at=row.expires_at,
    )
