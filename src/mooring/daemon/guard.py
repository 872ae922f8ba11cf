"""Bounded resources before authentication on ``serve --listen`` (issue 17).

Anyone who can reach the TCP port can open connections before a token is checked. Without bounds,
20,000 of them exhausted the engine's descriptors: the unix socket stopped answering and asyncio
logged "Too many open files" half a million times. Here, before any byte is parsed:

- at most ``max_connections`` open connections on the listener, and ``per_client`` per client address;
- a connection that has not sent a complete request head within ``header_timeout`` is closed;
- new connections are refused while free descriptors run low (the unix socket and the instances
  keep theirs);
- a request body larger than ``max_body`` is answered 413 (``BodyLimit``).

Refused connections are closed at once (RST); they are counted and logged at most once a minute.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("mooring.engine")


@dataclass
class Limits:
    max_connections: int = 256
    per_client: int = 32
    header_timeout: float = 10.0
    max_body: int = 16 * 1024 * 1024
    fd_reserve: float = 0.25  # refuse new connections with less than this share of descriptors free


@dataclass
class Gate:
    """Counts of one listener's open connections; shared by its protocol instances."""

    limits: Limits
    open: int = 0
    by_client: Counter[str] = field(default_factory=Counter)
    refused: int = 0
    _fds_checked: float = 0.0
    _fds_low: bool = False
    _logged: float = 0.0
    _refused_logged: int = 0

    def admit(self, client: str) -> str | None:
        """None if the connection may stay; else why it is refused."""
        if self.open >= self.limits.max_connections:
            return f"{self.open} connections open (max {self.limits.max_connections})"
        if self.by_client[client] >= self.limits.per_client:
            return f"{client} has {self.by_client[client]} connections open (max {self.limits.per_client})"
        if self._descriptors_low():
            return "file descriptors are running low"
        self.open += 1
        self.by_client[client] += 1
        return None

    def leave(self, client: str) -> None:
        self.open -= 1
        self.by_client[client] -= 1
        if self.by_client[client] <= 0:
            del self.by_client[client]

    def refuse(self, why: str) -> None:
        self.refused += 1
        now = time.monotonic()
        if now - self._logged >= 60.0:  # one line a minute, whatever the flood
            log.warning(
                "refusing TCP connections before authentication: %s (%d refused since the last report)",
                why,
                self.refused - self._refused_logged,
            )
            self._logged, self._refused_logged = now, self.refused

    def _descriptors_low(self) -> bool:
        now = time.monotonic()
        if now - self._fds_checked >= 0.5:  # counting /proc/self/fd is not free: twice a second at most
            self._fds_checked = now
            soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
            try:
                used = len(os.listdir("/proc/self/fd"))
            except OSError:
                used = 0
            self._fds_low = soft > 0 and (soft - used) < soft * self.limits.fd_reserve
        return self._fds_low


def guarded(base: type[asyncio.Protocol], gate: Gate) -> type[asyncio.Protocol]:
    """``base`` (uvicorn's HTTP protocol) behind ``gate``: refused connections never reach it."""

    class Guarded(base):  # type: ignore[valid-type,misc]
        _guard_client: str | None = None
        _guard_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:
            peer = transport.get_extra_info("peername")
            client = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
            why = gate.admit(client)
            if why is not None:
                gate.refuse(why)
                transport.abort()
                return
            self._guard_client = client
            super().connection_made(transport)
            loop = asyncio.get_running_loop()
            self._guard_timer = loop.call_later(gate.limits.header_timeout, self._guard_head_late)

        def _guard_head_late(self) -> None:
            if getattr(self, "cycle", None) is None:  # never sent a complete request head
                self.transport.abort()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._guard_client is None:
                return  # refused in connection_made: uvicorn never saw it
            gate.leave(self._guard_client)
            self._guard_client = None
            if self._guard_timer is not None:
                self._guard_timer.cancel()
            super().connection_lost(exc)

    return Guarded


class BodyLimit:
    """Answer 413 to a request body over ``max_body`` bytes, declared or streamed, before the app reads it."""

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            await _too_large(send, self.max_body)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _BodyTooLarge:
            await _too_large(send, self.max_body)


class _BodyTooLarge(Exception):
    pass


async def _too_large(send: Send, limit: int) -> None:
    body = (
        b'{"code":"usage_error","message":"the request body is larger than '
        + str(limit).encode()
        + b' bytes","hint":"send a snapshot of a manifest under 1 MiB"}'
    )
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": body})
