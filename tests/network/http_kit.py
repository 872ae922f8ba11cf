"""Real HTTP backends and a client for the edge's HTTP routes tests."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import http.client
import json
from typing import Any


class HttpBackend:
    """A real HTTP/1.1 server on loopback: answers JSON naming itself, the path and the headers it got."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.port = 0
        self.server: asyncio.Server | None = None
        self.accepted = 0  # connections HAProxy opened to it
        self.health = 200  # what GET /health answers

    async def start(self) -> HttpBackend:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                _, path, _ = lines[0].split(" ", 2)
                headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:] if h)}
                if headers.get("upgrade", "").lower() == "websocket":
                    key = headers.get("sec-websocket-key", "") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
                    accept = base64.b64encode(hashlib.sha1(key.encode()).digest()).decode()  # RFC 6455 4.2.2
                    writer.write(
                        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        + f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode()
                    )
                    await writer.drain()
                    while data := await reader.read(1024):  # an echo, as long as the client holds it
                        writer.write(data)
                        await writer.drain()
                    return
                body = json.dumps({"name": self.name, "path": path, "headers": headers}).encode()
                status = self.health if path == "/health" else 200
                writer.write(
                    f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n".encode()
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def close(self) -> None:
        assert self.server is not None
        self.server.close()


def get(
    port: int, host: str, path: str = "/", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], str]:
    """One request with ``Host: host`` (blocking: run it in a thread from async tests)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": host, **(headers or {})})
        reply = conn.getresponse()
        return reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read().decode()
    finally:
        conn.close()


def get_many(port: int, host: str, count: int) -> list[int]:
    """``count`` requests on one keep-alive connection; their statuses."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        statuses = []
        for _ in range(count):
            conn.request("GET", "/", headers={"Host": host})
            reply = conn.getresponse()
            reply.read()
            statuses.append(reply.status)
        return statuses
    finally:
        conn.close()


async def aget(port: int, host: str, path: str = "/") -> tuple[int, dict[str, str], str]:
    return await asyncio.to_thread(get, port, host, path)


def served_by(answer: tuple[int, dict[str, str], str]) -> Any:
    status, _, body = answer
    assert status == 200, f"HTTP {status}: {body}"
    return json.loads(body)["name"]
