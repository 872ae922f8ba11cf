"""ConnectionCache: one connection per key, closed when discarded or at close()."""

from __future__ import annotations

import asyncio

from mooring.health.connections import ConnectionCache

from .health_testkit import Runner


class FakeConnection:
    def __init__(self, key: str) -> None:
        self.key = key
        self.closed = False

    async def close(self) -> None:
        self.closed = True


def cache() -> ConnectionCache[FakeConnection]:
    return ConnectionCache(FakeConnection, FakeConnection.close)


def test_one_connection_per_key_until_discarded(run: Runner) -> None:
    async def scenario() -> None:
        connections = cache()
        first = connections.get("a")
        assert connections.get("a") is first and connections.get("b") is not first
        connections.discard("a")
        assert connections.keys() == {"b"}
        assert connections.get("a") is not first  # a fresh one at once
        await asyncio.sleep(0)  # the discarded one closes in the background
        assert first.closed
        connections.discard("missing")

    run(scenario())


def test_close_closes_everything_even_what_was_discarded_without_a_loop(run: Runner) -> None:
    connections = cache()
    a, b = connections.get("a"), connections.get("b")
    connections.discard("a")  # no running loop here
    run(connections.close())
    assert a.closed and b.closed and connections.keys() == set()
