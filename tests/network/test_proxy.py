"""The proxy on real loopback sockets: forwarding, balance, counters, drain, publish errors."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from mooring.network import Balance, Proxy, PublishError
from mooring.network.proxy import PortMapping
from tests.kit import free_port

LOOP = {"factory": asyncio.new_event_loop}


@pytest.fixture(autouse=True, params=["asyncio", "uvloop"])
def event_loop_kind(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test runs on both loops: the engine runs on asyncio; uvloop is measured as a candidate."""
    if request.param == "uvloop":
        try:
            import uvloop
        except ImportError:
            pytest.fail("uvloop is not installed: pip install -e '.[test]' (a test dependency)")
        LOOP["factory"] = uvloop.new_event_loop
    else:
        LOOP["factory"] = asyncio.new_event_loop
    yield


def run(test: Callable[[], Awaitable[None]]) -> None:
    with asyncio.Runner(loop_factory=LOOP["factory"]) as runner:
        runner.run(asyncio.wait_for(test(), 30))


class Backend:
    """A real TCP server: answers each line with ``<name>:<line>``; counts its connections."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.port = 0
        self.server: asyncio.Server | None = None
        self.accepted = 0
        self.open: list[asyncio.StreamWriter] = []

    async def start(self) -> Backend:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.open.append(writer)
        try:
            while line := await reader.readline():
                writer.write(f"{self.name}:{line.decode()}".encode())
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            self.open.remove(writer)
            writer.close()

    def close(self) -> None:
        assert self.server is not None
        self.server.close()


async def ask(port: int, line: str = "hi") -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"{line}\n".encode())
    await writer.drain()
    answer = await reader.readline()
    writer.close()
    return answer.decode().strip()


async def settled(proxy: Proxy, active: int, app: str = "a") -> None:
    """Wait (with a deadline) until the proxy saw the closes: a client's close reaches it asynchronously."""
    for _ in range(500):
        if proxy.view(app)[0]["counters"]["active"] == active:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(
        f"the proxy still counts {proxy.view(app)[0]['counters']['active']} open, not {active}"
    )


async def published(proxy: Proxy, backends: list[Backend], app: str = "a", service: str = "s") -> int:
    port = free_port()
    await proxy.publish(app, service, [PortMapping("127.0.0.1", port, 80)])
    for b in backends:
        proxy.admit(app, service, b.name, "127.0.0.1", {80: b.port})
    return port


def test_forwards_and_counts_bytes_per_service_and_instance() -> None:
    async def body() -> None:
        proxy = Proxy()
        backend = await Backend("one").start()
        port = await published(proxy, [backend])
        assert await ask(port, "hello") == "one:hello"
        svc = proxy.view("a")[0]
        assert svc["listeners"] == [{"address": f"127.0.0.1:{port}", "port": 80}]
        for counters in (svc["counters"], svc["instances"][0]["counters"]):
            assert counters["connections"] == 1 and counters["errors"] == 0
            assert counters["bytes_in"] == len("hello\n") and counters["bytes_out"] == len("one:hello\n")
        await proxy.close()
        backend.close()

    run(body)


def test_round_robin_spreads_new_connections_over_every_replica() -> None:
    async def body() -> None:
        proxy = Proxy(Balance.ROUND_ROBIN)
        backends = [await Backend(f"r{i}").start() for i in range(3)]
        port = await published(proxy, backends)
        answers = [await ask(port) for _ in range(9)]
        assert sorted(a.split(":")[0] for a in answers) == ["r0"] * 3 + ["r1"] * 3 + ["r2"] * 3
        await proxy.close()

    run(body)


def test_least_connections_avoids_the_busy_replica() -> None:
    async def body() -> None:
        proxy = Proxy(Balance.LEAST_CONNECTIONS)
        backends = [await Backend(f"r{i}").start() for i in range(2)]
        port = await published(proxy, backends)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"hold\n")
        busy = (await reader.readline()).decode().split(":")[0]
        answers = set()
        for _ in range(4):
            answers.add((await ask(port)).split(":")[0])
            await settled(proxy, active=1)
        assert answers == {"r0", "r1"} - {busy}
        writer.close()
        await proxy.close()

    run(body)


def test_no_ready_instance_closes_the_connection_and_counts_an_error() -> None:
    async def body() -> None:
        proxy = Proxy()
        port = await published(proxy, [])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        assert proxy.view("a")[0]["counters"]["errors"] == 1
        assert proxy.view("a")[0]["counters"]["active"] == 0
        await proxy.close()

    run(body)


def test_an_instance_that_refuses_is_skipped_and_the_client_never_notices() -> None:
    async def body() -> None:
        proxy = Proxy(Balance.ROUND_ROBIN)
        good = await Backend("good").start()
        port = await published(proxy, [good])
        proxy.admit("a", "s", "dead", "127.0.0.1", {80: free_port()})  # nothing listens there
        assert [await ask(port) for _ in range(4)] == ["good:hi"] * 4
        dead = proxy.upstream("dead")
        assert dead is not None and dead.counters.errors >= 1 and dead.counters.connections == 0
        assert proxy.view("a")[0]["counters"]["errors"] == 0
        await proxy.close()

    run(body)


def test_unavailable_instance_gets_no_new_connection() -> None:
    async def body() -> None:
        proxy = Proxy()
        a, b = await Backend("a").start(), await Backend("b").start()
        port = await published(proxy, [a, b])
        proxy.set_available("a", False)
        assert {await ask(port) for _ in range(4)} == {"b:hi"}
        proxy.set_available("a", True)
        assert {await ask(port) for _ in range(4)} == {"a:hi", "b:hi"}
        await proxy.close()

    run(body)


def test_withdraw_waits_for_open_connections_and_sends_new_ones_elsewhere() -> None:
    async def body() -> None:
        proxy = Proxy()
        old, new = await Backend("old").start(), await Backend("new").start()
        port = await published(proxy, [old])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"1\n")
        assert await reader.readline() == b"old:1\n"
        proxy.admit("a", "s", "new", "127.0.0.1", {80: new.port})
        drain = asyncio.create_task(proxy.withdraw("old", 20))
        await asyncio.sleep(0)  # let the withdraw take the instance out of rotation
        assert not proxy.serving("old")
        assert {await ask(port) for _ in range(3)} == {"new:hi"}
        writer.write(b"2\n")  # the open connection still works while it drains
        assert await reader.readline() == b"old:2\n"
        assert not drain.done()
        writer.close()
        assert await asyncio.wait_for(drain, 5) == 0
        assert proxy.upstream("old") is None
        await proxy.close()

    run(body)


def test_withdraw_gives_up_at_the_drain_deadline() -> None:
    async def body() -> None:
        proxy = Proxy()
        old = await Backend("old").start()
        port = await published(proxy, [old])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"1\n")
        await reader.readline()
        loop = asyncio.get_running_loop()
        began = loop.time()
        assert await proxy.withdraw("old", 0.3) == 1
        assert 0.25 <= loop.time() - began < 5
        writer.close()
        await proxy.close()

    run(body)


def test_port_in_use_names_port_and_service_and_binds_nothing() -> None:
    async def body() -> None:
        proxy = Proxy()
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        first = free_port()
        with pytest.raises(PublishError) as caught:
            await proxy.publish(
                "shop", "web", [PortMapping("127.0.0.1", first, 80), PortMapping("127.0.0.1", busy, 81)]
            )
        message = str(caught.value)
        assert f"127.0.0.1:{busy}" in message and "service web" in message and "in use" in message
        assert "service.web.ports" in message
        with socket.socket() as probe:  # the first port was released again: all or nothing
            probe.bind(("127.0.0.1", first))
        assert proxy.route("shop", "web").listeners == {}
        taken.close()
        await proxy.close()

    run(body)


def test_half_close_and_a_large_transfer_arrive_whole() -> None:
    async def body() -> None:
        received: dict[str, Any] = {}

        async def sink(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            data = await reader.read()  # until the client's EOF
            received["n"] = len(data)
            writer.write(b"x" * (8 << 20))  # then answer 8 MiB
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(sink, "127.0.0.1", 0)
        proxy = Proxy()
        port = free_port()
        await proxy.publish("a", "s", [PortMapping("127.0.0.1", port, 80)])
        proxy.admit("a", "s", "sink", "127.0.0.1", {80: server.sockets[0].getsockname()[1]})
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"y" * (16 << 20))
        await writer.drain()
        writer.write_eof()
        answer = await reader.read()
        assert received["n"] == 16 << 20 and len(answer) == 8 << 20
        counters = proxy.view("a")[0]["counters"]
        assert counters["bytes_in"] == 16 << 20 and counters["bytes_out"] == 8 << 20
        writer.close()
        server.close()
        await proxy.close()

    run(body)


def test_concurrent_publish_of_one_service_binds_once() -> None:
    async def body() -> None:
        proxy = Proxy()
        mapping = PortMapping("127.0.0.1", free_port(), 80)
        await asyncio.gather(*(proxy.publish("a", "s", [mapping]) for _ in range(3)))
        assert list(proxy.route("a", "s").listeners) == [mapping]
        await proxy.close()

    run(body)
