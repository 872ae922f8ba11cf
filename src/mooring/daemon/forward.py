"""A follower engine's front door: reads it can answer from the shared store, it answers; everything
else (changes, and views of the live workloads only the leader holds) goes to the leader.

The leader's API address is the one it recorded in ``leadership`` (its ``--listen``). The request is
passed on as it came, bearer token included (the tokens live in the shared database, so the leader
knows them); the answer is streamed back as it comes (event streams, ``logs -f``). A leader starting
up (it won, and recovers) holds requests until it is ready.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mooring.engine import Engine

if TYPE_CHECKING:
    import httpx
from mooring.engine.cluster import PEER_HEADER, sign_peer, verify_peer

log = logging.getLogger("mooring.engine")

# Answered by a follower from the store: who answers, the cluster, history, a release and its events.
LOCAL_READS = re.compile(
    r"^/(openapi\.json|v1/engine|v1/apps/[^/]+/releases|v1/releases/[0-9a-f]+|v1/releases/[0-9a-f]+/events"
    r"|v1/audit)$"
)
FORWARDED_BY = "x-mooring-forwarded-by"
HOP_HEADERS = {"host", "connection", "keep-alive", "transfer-encoding", "te", "upgrade", "content-length"}
READY_WAIT = 60.0  # a new leader recovering: requests wait this long for it


class LeaderForward:
    """ASGI middleware: pass through on the leader (or a lone engine), forward on a follower."""

    def __init__(self, app: ASGIApp, engine: Engine, *, trusted: bool = False) -> None:
        self.app = app
        self.engine = engine
        # the unix socket: its requests carry no token, the follower vouches for them (PeerAuth)
        self.trusted = trusted
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        """Made on the first forward: a lone engine or a leader never loads httpx (~5 MiB) for it."""
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(timeout=httpx.Timeout(30.0, read=None))
        return self._client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        campaign = self.engine.campaign
        if scope["type"] != "http" or campaign is None or self.engine.started.is_set():
            await self.app(scope, receive, send)
            return
        if campaign.leading:  # won, still recovering: answer once ready, as a restarted engine would
            try:
                await asyncio.wait_for(self.engine.started.wait(), READY_WAIT)
            except TimeoutError:
                await _error(send, 503, "the engine leads but is still recovering", "try again shortly")
                return
            await self.app(scope, receive, send)
            return
        if scope["method"] in ("GET", "HEAD") and LOCAL_READS.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        await self._forward(scope, receive, send)

    async def _forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]]
        if any(k == FORWARDED_BY for k, _ in headers):
            # forwarded to us, and we do not lead: the leadership changed under the request
            await _error(send, 503, "the leader changed while the request was forwarded", "try again")
            return
        address = await asyncio.to_thread(self.engine.leader_address)
        if not address:
            await _error(
                send,
                503,
                "this engine follows, and no leader with an API address is known "
                "(a leader is being elected, or it runs without --listen)",
                "run every engine of the cluster with `mooring serve --listen HOST:PORT`; "
                "`mooring engine status` shows who leads",
            )
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        url = address.rstrip("/") + scope["path"]
        if scope.get("query_string"):
            url += "?" + scope["query_string"].decode("latin-1")
        forwarded = [(k, v) for k, v in headers if k not in HOP_HEADERS and k != PEER_HEADER]
        campaign = self.engine.campaign
        assert campaign is not None
        forwarded.append((FORWARDED_BY, campaign.me.id))
        if self.trusted and not any(k == "authorization" for k, _ in forwarded):
            target = url[len(address.rstrip("/")) :]
            signed = await asyncio.to_thread(
                sign_peer, self.engine.store, campaign.me.id, scope["method"], target
            )
            forwarded.append((PEER_HEADER, signed))
        import httpx  # loaded with the client

        request = self.client.build_request(scope["method"], url, headers=forwarded, content=body)
        try:
            response = await self.client.send(request, stream=True)
        except httpx.HTTPError as exc:
            await _error(send, 502, f"the leader at {address} did not answer: {exc}", "try again shortly")
            return
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": [
                        (k.encode("latin-1"), v.encode("latin-1"))
                        for k, v in response.headers.multi_items()
                        if k.lower() not in HOP_HEADERS - {"content-length"}
                    ],
                }
            )
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await response.aclose()


async def _error(send: Send, status: int, message: str, hint: str) -> None:
    body = json.dumps({"code": "engine_unreachable", "message": message, "hint": hint}).encode()
    start: Message = {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    }
    await send(start)
    await send({"type": "http.response.body", "body": body})


class PeerAuth:
    """On the TCP listener: a request another engine of the cluster forwarded for an operator on its
    unix socket, signed with the cluster's key, is served as a local one; any other goes through
    bearer authentication (``authenticated``)."""

    def __init__(self, authenticated: ASGIApp, trusted: ASGIApp, engine: Engine) -> None:
        self.authenticated = authenticated
        self.trusted = trusted
        self.engine = engine

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        value = None
        if scope["type"] == "http" and self.engine.campaign is not None:
            value = next(
                (v.decode("latin-1") for k, v in scope["headers"] if k.lower() == PEER_HEADER.encode()), None
            )
        if value is None:
            await self.authenticated(scope, receive, send)
            return
        target = scope["path"] + (
            f"?{scope['query_string'].decode('latin-1')}" if scope.get("query_string") else ""
        )
        peer = await asyncio.to_thread(verify_peer, self.engine.store, value, scope["method"], target)
        if peer is None:
            await _error(
                send,
                401,
                "the request claims to come from an engine of the cluster, and its signature "
                "does not verify (or is older than 30 s)",
                "check that the engines' clocks agree",
            )
            return
        scope.setdefault("state", {})["mooring_actor"] = f"engine:{peer}"
        await self.trusted(scope, receive, send)
