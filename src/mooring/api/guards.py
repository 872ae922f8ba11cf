"""ASGI middlewares around every API listener: secret values masked on the way out, writes audited.

``MaskResponses`` replaces any known secret value (mooring.masking) in every answer, streamed or
not; the one route that reveals a value on purpose (``GET .../secrets/NAME/value``, admin only) is
exempt and audited. ``AuditTrail`` appends one entry per request that changes something (and per
refused attempt), after the answer, with the actor the auth middleware named.
"""

from __future__ import annotations

import logging
import os
import pwd
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mooring.api.auth import APP_PATH, READ_METHODS, READ_ONLY_POSTS, SECRET_VALUE
from mooring.masking import masker

log = logging.getLogger("mooring.api")
ACTOR_KEY = "mooring_actor"
DETAIL_KEY = "mooring_audit_detail"


def local_actor() -> str:
    """Who a request over the unix socket comes from: the socket is 0600, so the engine's own user."""
    try:
        return "local:" + pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"local:uid {os.geteuid()}"


class MaskResponses:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or SECRET_VALUE.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        held: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def masked_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers") or []
                if any(k.lower() == b"content-length" for k, _ in headers):
                    held["start"] = message  # the length may change: send it with the whole body
                    return
                await send(message)
                return
            if message["type"] == "http.response.body":
                body = message.get("body", b"")
                if "start" not in held:
                    await send({**message, "body": masker.mask_bytes(body)})
                    return
                chunks.append(body)
                if message.get("more_body"):
                    return
                whole = masker.mask_bytes(b"".join(chunks))
                start = held.pop("start")
                headers = [(k, v) for k, v in start.get("headers") or [] if k.lower() != b"content-length"]
                headers.append((b"content-length", str(len(whole)).encode()))
                await send({**start, "headers": headers})
                await send({"type": "http.response.body", "body": whole, "more_body": False})
                return
            await send(message)

        await self.app(scope, receive, masked_send)


def changes_something(method: str, path: str) -> bool:
    method = method.upper()
    if method in READ_METHODS:
        return bool(SECRET_VALUE.match(path))  # revealing a value is audited like a write
    return not (method == "POST" and READ_ONLY_POSTS.match(path))


class AuditTrail:
    """Appends to the store's audit log; ``source`` names the listener (``unix`` or ``tcp``)."""

    def __init__(self, app: ASGIApp, store: Any, source: str) -> None:
        self.app = app
        self.store = store
        self.source = source

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state.setdefault(ACTOR_KEY, local_actor() if self.source == "unix" else "anonymous")
        if not changes_something(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return
        status: dict[str, int] = {}

        async def watched_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        finally:
            self._append(scope, status.get("code"))

    def _append(self, scope: Scope, code: int | None) -> None:
        client = scope.get("client")
        where = f"{client[0]}:{client[1]}" if client and client[0] else self.source
        found = APP_PATH.match(scope["path"])
        outcome = "ok" if code is not None and code < 400 else "denied" if code in (401, 403) else "failed"
        try:
            self.store.append_audit(
                actor=str(scope["state"].get(ACTOR_KEY, "anonymous")),
                source=f"{self.source} {where}" if where != self.source else self.source,
                action=f"{scope['method']} {scope['path']}",
                app=found.group(1) if found else None,
                outcome=outcome,
                status=code,
                detail=str(scope["state"].get(DETAIL_KEY, "")),
            )
        except Exception:  # the answer is sent; a lost audit entry is logged loudly, never silent
            log.exception("could not append to the audit log: %s %s", scope["method"], scope["path"])
