"""Bearer-token authentication of the engine's TCP listener (the unix socket is trusted by its 0600 mode).

Scopes nest: ``read`` may GET, ``write`` may also POST (apply, rollout control, rollback, down),
``admin`` may also manage tokens. A refusal is the API's error shape: 401 with
``WWW-Authenticate: Bearer`` when the token is missing, not recognised or revoked; 403 when its scope
is too small.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from mooring.engine.tokens import ApiToken, Tokens

SCOPE_RANK = {"read": 0, "write": 1, "admin": 2}
TOKEN_ROUTES = "/v1/tokens"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# POST routes that change nothing: a dry run sends a snapshot in its body, but only reads.
READ_ONLY_POSTS = re.compile(r"^/v1/apps/[^/]+/plan$")
# The dashboard's static shell (HTML, JS, CSS: no data) loads without a token so it can ask for one;
# everything it shows comes from the API, which needs the token.
PUBLIC_PREFIX = "/ui"
# Recording last use is a write; once a minute per token is precise enough for `token list`.
LAST_USED_EVERY = 60.0
CREATE_HINT = (
    "create one on the engine's host with `mooring token create --scope read|write|admin` "
    "and pass it in MOORING_TOKEN"
)


def scope_needed(method: str, path: str) -> str:
    """The smallest scope that may make this request."""
    if path == TOKEN_ROUTES or path.startswith(TOKEN_ROUTES + "/"):
        return "admin"
    if method.upper() in READ_METHODS or (method.upper() == "POST" and READ_ONLY_POSTS.match(path)):
        return "read"
    return "write"


@dataclass(frozen=True)
class Refusal:
    status: int
    code: str
    message: str
    hint: str


def authorize(
    header: str | None, method: str, path: str, lookup: Callable[[str], ApiToken | None]
) -> ApiToken | Refusal:
    """The token allowed to make this request, or why not. Pure apart from ``lookup``."""
    if not header:
        return Refusal(
            401,
            "unauthorized",
            "this engine's TCP listener needs a bearer token and none was sent",
            CREATE_HINT,
        )
    kind, _, secret = header.partition(" ")
    secret = secret.strip()
    if kind.lower() != "bearer" or not secret:
        return Refusal(
            401,
            "unauthorized",
            "the Authorization header is not of the form 'Bearer <token>'",
            CREATE_HINT,
        )
    token = lookup(secret)
    if token is None:
        return Refusal(
            401,
            "unauthorized",
            "the bearer token is not recognised by this engine (tokens only work on the engine that made them)",
            "check MOORING_TOKEN; `mooring token list` on the engine's host shows the tokens it knows; "
            + CREATE_HINT,
        )
    if token.revoked_at is not None:
        return Refusal(
            401,
            "unauthorized",
            f"the bearer token {token.name!r} (id {token.id}) was revoked at "
            f"{token.revoked_at.isoformat(timespec='seconds')}",
            CREATE_HINT,
        )
    needed = scope_needed(method, path)
    if SCOPE_RANK[token.scope] < SCOPE_RANK[needed]:
        return Refusal(
            403,
            "forbidden",
            f"token {token.name!r} (id {token.id}) has scope {token.scope}; "
            f"{method.upper()} {path} needs scope {needed}",
            f"use a token with scope {needed}"
            + (" or admin" if needed != "admin" else "")
            + f": mooring token create --scope {needed}",
        )
    return token


class BearerAuth:
    """ASGI middleware: every request must carry a bearer token whose scope covers it."""

    def __init__(self, app: ASGIApp, tokens: Tokens) -> None:
        self.app = app
        self.tokens = tokens
        self._last_marked: dict[str, float] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if scope["method"] in ("GET", "HEAD") and (
            path == PUBLIC_PREFIX or path.startswith(PUBLIC_PREFIX + "/")
        ):
            await self.app(scope, receive, send)
            return
        header = Headers(scope=scope).get("authorization")
        decision = authorize(header, scope["method"], scope["path"], self.tokens.token_for_secret)
        if isinstance(decision, Refusal):
            headers = {"WWW-Authenticate": 'Bearer realm="mooring"'} if decision.status == 401 else None
            body = {"code": decision.code, "message": decision.message, "hint": decision.hint}
            await JSONResponse(body, status_code=decision.status, headers=headers)(scope, receive, send)
            return
        self._mark_used(decision)
        # what GET /v1/session answers: the dashboard shows the controls only to a write token
        scope.setdefault("state", {})["token"] = {
            "id": decision.id,
            "name": decision.name,
            "scope": decision.scope,
        }
        await self.app(scope, receive, send)

    def _mark_used(self, token: ApiToken) -> None:
        now = time.monotonic()
        last = self._last_marked.get(token.id)
        if last is None or now - last >= LAST_USED_EVERY:
            self._last_marked[token.id] = now
            self.tokens.mark_token_used(token.id)
