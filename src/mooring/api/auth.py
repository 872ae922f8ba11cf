"""Bearer-token authentication of the engine's TCP listener (the unix socket is trusted by its 0600 mode).

Each request needs one resource scope (``apps:read``, ``apps:write``, ``secrets:write``,
``secrets:read``, ``audit:read``, ``tokens:admin``; see ``permission_needed``) and, when the token
is limited to some apps, to be about one of them. The old nested scopes stand for sets of these:
``read`` = apps:read; ``write`` = also apps:write and secrets:write; ``admin`` = all. A refusal is
the API's error shape: 401 with ``WWW-Authenticate: Bearer`` when the token is missing, not
recognised, revoked or expired; 403 naming the scope (or the app) it lacks.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qs

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from mooring.engine.tokens import LEGACY_SCOPES, ApiToken, Tokens

SCOPE_RANK = {"read": 0, "write": 1, "admin": 2}
TOKEN_ROUTES = "/v1/tokens"
AUDIT_ROUTES = "/v1/audit"
KEY_ROUTES = "/v1/secrets"
APP_PATH = re.compile(r"^/v1/apps/([^/]+)(/.*)?$")
RELEASE_PATH = re.compile(r"^/v1/releases/([^/]+)(/.*)?$")
SECRET_VALUE = re.compile(r"^/v1/apps/[^/]+/secrets/[^/]+/value$")
SECRET_ROUTES = re.compile(r"^/v1/apps/[^/]+/secrets(/.*)?$")
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


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def permission_needed(method: str, path: str) -> str:
    """The resource scope this request needs."""
    reads = method.upper() in READ_METHODS or (method.upper() == "POST" and bool(READ_ONLY_POSTS.match(path)))
    if _under(path, TOKEN_ROUTES) or _under(path, KEY_ROUTES):
        return "tokens:admin"  # tokens, and the engine's secret key (rotate-key)
    if _under(path, AUDIT_ROUTES):
        return "audit:read"
    if SECRET_VALUE.match(path):
        return "secrets:read"
    if SECRET_ROUTES.match(path) and not reads:
        return "secrets:write"
    return "apps:read" if reads else "apps:write"


def scope_needed(method: str, path: str) -> str:
    """The smallest of the old nested scopes (read, write, admin) that may make this request."""
    needed = permission_needed(method, path)
    for scope in ("read", "write", "admin"):
        if needed in LEGACY_SCOPES[scope]:
            return scope
    return "admin"


def app_of_request(
    path: str, query: str, app_of_release: Callable[[str], str | None] | None
) -> tuple[bool, str | None]:
    """(is it about one app, which); a request about no app or several is (False, None)."""
    found = APP_PATH.match(path)
    if found:
        return True, found.group(1)
    found = RELEASE_PATH.match(path)
    if found and app_of_release is not None:
        return True, app_of_release(found.group(1))
    if path == "/v1/instances":
        apps = parse_qs(query).get("app")
        return (True, apps[0]) if apps else (False, None)
    return False, None


@dataclass(frozen=True)
class Refusal:
    status: int
    code: str
    message: str
    hint: str
    token_name: str | None = None  # who tried, for the audit log, when the token was recognised


def authorize(
    header: str | None,
    method: str,
    path: str,
    lookup: Callable[[str], ApiToken | None],
    query: str = "",
    app_of_release: Callable[[str], str | None] | None = None,
    now: datetime | None = None,
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
    now = now or datetime.now(UTC)
    if token.expires_at is not None and token.expires_at <= now:
        return Refusal(
            401,
            "unauthorized",
            f"the bearer token {token.name!r} (id {token.id}) expired at "
            f"{token.expires_at.isoformat(timespec='seconds')}",
            CREATE_HINT,
            token.name,
        )
    permission = permission_needed(method, path)
    if permission not in token.effective_scopes and token.scope == "custom":
        return Refusal(
            403,
            "forbidden",
            f"token {token.name!r} (id {token.id}) has scopes {token.describe_scopes()}; "
            f"{method.upper()} {path} needs scope {permission}",
            f"use a token with scope {permission}: mooring token create --scope {permission}",
            token.name,
        )
    needed = scope_needed(method, path)
    if token.scope != "custom" and SCOPE_RANK[token.scope] < SCOPE_RANK[needed]:
        return Refusal(
            403,
            "forbidden",
            f"token {token.name!r} (id {token.id}) has scope {token.scope}; "
            f"{method.upper()} {path} needs scope {needed}",
            f"use a token with scope {needed}"
            + (" or admin" if needed != "admin" else "")
            + f": mooring token create --scope {needed}",
            token.name,
        )
    if token.apps is not None:
        about_one, app = app_of_request(path, query, app_of_release)
        if not about_one or app not in token.apps:
            what = f"app {app!r}" if app else "no single app"
            return Refusal(
                403,
                "forbidden",
                f"token {token.name!r} (id {token.id}) is limited to apps {', '.join(token.apps)}; "
                f"{method.upper()} {path} is about {what} (needs scope {permission} on it)",
                "use a token not limited to apps, or one whose --app includes it",
                token.name,
            )
    return token


class BearerAuth:
    """ASGI middleware: every request must carry a bearer token whose scope covers it."""

    def __init__(
        self, app: ASGIApp, tokens: Tokens, app_of_release: Callable[[str], str | None] | None = None
    ) -> None:
        self.app = app
        self.tokens = tokens
        # which app a /v1/releases/{id} route is about, for tokens limited to some apps
        self.app_of_release = app_of_release
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
        decision = authorize(
            header,
            scope["method"],
            scope["path"],
            self.tokens.token_for_secret,
            query=scope.get("query_string", b"").decode("latin-1"),
            app_of_release=self.app_of_release,
        )
        name = decision.name if isinstance(decision, ApiToken) else decision.token_name
        scope.setdefault("state", {})["mooring_actor"] = f"token:{name}" if name else "token:(unknown)"
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
