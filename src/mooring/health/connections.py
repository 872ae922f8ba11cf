"""Long-lived connections (HTTP clients, grpc channels) kept per target and reused across probes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class ConnectionCache(Generic[T]):
    """One connection object per target key: opened on first use, closed when discarded."""

    def __init__(self, opener: Callable[[str], T], closer: Callable[[T], Coroutine[Any, Any, None]]) -> None:
        self._opener = opener
        self._closer = closer
        self._connections: dict[str, T] = {}
        self._retired: list[T] = []  # discarded with no running loop to close them on
        self._closing: set[asyncio.Task[None]] = set()

    def get(self, key: str) -> T:
        """The connection for ``key``, opened now if there is none."""
        connection = self._connections.get(key)
        if connection is None:
            connection = self._connections[key] = self._opener(key)
        return connection

    def keys(self) -> set[str]:
        """The keys with an open connection."""
        return set(self._connections)

    def discard(self, key: str) -> None:
        """Stop using the connection for ``key`` at once (the next ``get`` opens a fresh one) and close
        it in the background."""
        connection = self._connections.pop(key, None)
        if connection is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop to close it on now: close() will
            self._retired.append(connection)
            return
        closing = loop.create_task(self._closer(connection))
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        """Close every connection, including those still closing in the background."""
        connections = [*self._connections.values(), *self._retired]
        self._connections.clear()
        self._retired.clear()
        for connection in connections:
            await self._closer(connection)
        await asyncio.gather(*self._closing, return_exceptions=True)
