"""Real TCP backends and clients for the edge tests, and an Edge on a throwaway home."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from mooring.network import Edge, PortMapping
from tests.kit import free_port as free_port  # re-exported for the network tests


def run(test: Callable[[], Awaitable[None]]) -> None:
    with asyncio.Runner() as runner:
        runner.run(asyncio.wait_for(test(), 60))


class Backend:
    """A real TCP server: answers each line with ``<name>:<line>``; counts its connections."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.port = 0
        self.server: asyncio.Server | None = None
        self.accepted = 0

    async def start(self) -> Backend:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            while line := await reader.readline():
                writer.write(f"{self.name}:{line.decode()}".encode())
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    def close(self) -> None:
        assert self.server is not None
        self.server.close()


async def ask(port: int, line: str = "hi") -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"{line}\n".encode())
    await writer.drain()
    answer = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    return answer.decode().strip()


async def until(condition: Callable[[], Awaitable[bool]], what: str, timeout: float = 10.0) -> None:
    """Poll an async condition with a deadline (HAProxy's counters move asynchronously)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


async def edge_on(home: Path) -> Edge:
    edge = Edge(home)
    await edge.start()
    await edge.resume()
    return edge


async def published(edge: Edge, backends: list[Backend], app: str = "a", service: str = "s") -> int:
    port = free_port()
    await edge.publish(app, service, [PortMapping("127.0.0.1", port, 80)])
    for b in backends:
        edge.admit(app, service, b.name, "127.0.0.1", {80: b.port})
    await edge.sync()
    return port


async def counters(edge: Edge, app: str = "a") -> dict[str, int]:
    await edge.refresh()
    view: dict[str, int] = edge.view(app)[0]["counters"]
    return view
