"""The edge on a real HAProxy and real loopback sockets: forwarding, balance, counters, drain,
publish errors, hitless reloads, adoption by a new engine and restart after a crash."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from pathlib import Path
from typing import Any

import pytest

from mooring.network import Edge, PortMapping, PublishError
from tests.network.kit import Backend, ask, counters, edge_on, free_port, published, run, until


def test_forwards_and_counts_bytes_per_service_and_instance(tmp_path: Path) -> None:
    async def body() -> None:
        edge = await edge_on(tmp_path)
        try:
            backend = await Backend("one").start()
            port = await published(edge, [backend])
            assert await ask(port, "hello") == "one:hello"

            async def counted() -> bool:
                return (await counters(edge))["connections"] == 1 and edge.view("a")[0]["counters"][
                    "active"
                ] == 0

            await until(counted, "the session to be counted and closed")
            svc = edge.view("a")[0]
            assert svc["listeners"] == [{"address": f"127.0.0.1:{port}", "port": 80}]
            for c in (svc["counters"], svc["instances"][0]["counters"]):
                assert c["connections"] == 1 and c["errors"] == 0
                assert c["bytes_in"] == len("hello\n") and c["bytes_out"] == len("one:hello\n")
            assert edge.instance_counters("one") == svc["instances"][0]["counters"]
        finally:
            await edge.stop()

    run(body)


def test_least_connections_avoids_the_busy_replica(tmp_path: Path) -> None:
    async def body() -> None:
        edge = await edge_on(tmp_path)
        try:
            port = await published(edge, [await Backend(f"r{i}").start() for i in range(2)])
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"hold\n")
            busy = (await reader.readline()).decode().split(":")[0]
            answers = set()
            for _ in range(4):
                answers.add((await ask(port)).split(":")[0])

                async def settled() -> bool:  # HAProxy saw the close: only the held session is open
                    return (await counters(edge))["active"] == 1

                await until(settled, "the closed session to leave HAProxy's count")
            assert answers == {"r0", "r1"} - {busy}
            writer.close()
        finally:
            await edge.stop()

    run(body)


def test_no_ready_instance_closes_the_connection_and_counts_an_error(tmp_path: Path) -> None:
    async def body() -> None:
        edge = await edge_on(tmp_path)
        try:
            port = await published(edge, [])
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            assert await asyncio.wait_for(reader.read(), 10) == b""
            writer.close()

            async def counted() -> bool:
                return (await counters(edge))["errors"] == 1

            await until(counted, "the error to be counted")
        finally:
            await edge.stop()

    run(body)


def test_an_instance_that_refuses_is_skipped_and_the_client_never_notices(tmp_path: Path) -> None:
    async def body() -> None:
        edge = await edge_on(tmp_path)
        try:
            good = await Backend("good").start()
            port = await published(edge, [good])
            edge.admit("a", "s", "dead", "127.0.0.1", {80: free_port()})  # nothing listens there
            await edge.sync()
            assert [await ask(port) for _ in range(6)] == ["good:hi"] * 6
            await edge.refresh()
            dead = next(i for i in edge.view("a")[0]["instances"] if i["id"] == "dead")
            assert dead["counters"]["errors"] >= 1
            assert edge.view("a")[0]["counters"]["errors"] == 0
        finally:
            await edge.stop()

    run(body)


def test_unavailable_instance_gets_no_new_connection(tmp_path: Path) -> None:
    async def body() -> None:
        edge = await edge_on(tmp_path)
        try:
            a, b = await Backend("a").start(), await Backend("b").start()
            port = await published(edge, [a, b])
            edge.set_available("a", False)
            await edge.sync()
            assert {await ask(port) for _ in range(4)} == {"b:hi"}
            edge.set_available("a", True)
            await edge.sync()
            assert {await ask(port) for _ in range(6)} == {"a:hi", "b:hi"}
        finally:
            await edge.stop()

    run(body)


def test_withdraw_waits_for_open_connections_and_sends_new_ones_elsewhere(tmp_path: Path) -> None:
    async def body() -> None:
        edge = await edge_on(tmp_path)
        try:
            old, new = await Backend("old").start(), await Backend("new").start()
            port = await published(edge, [old])
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"1\n")
            assert await reader.readline() == b"old:1\n"
            edge.admit("a", "s", "new", "127.0.0.1", {80: new.port})
            drain = asyncio.create_task(edge.withdraw("old", 20))

            async def draining() -> bool:  # as HAProxy has it
                return any(
                    s.name == "old" and s.admin == "drain" for s in await edge.process.api.show_servers()
                )

            await until(draining, "the old instance to drain")
            assert not edge.serving("old")
            assert {await ask(port) for _ in range(3)} == {"new:hi"}
            writer.write(b"2\n")  # the open connection still works while it drains
            assert await reader.readline() == b"old:2\n"
            assert not drain.done()
            writer.close()
            assert await asyncio.wait_for(drain, 10) == 0
            await edge.forget("old")
            servers = await edge.process.api.show_servers()
            assert [s.name for s in servers] == ["new"]
        finally:
            await edge.stop()

    run(body)


def test_withdraw_gives_up_at_the_drain_deadline(tmp_path: Path) -> None:
    async def body() -> None:
        edge = await edge_on(tmp_path)
        try:
            port = await published(edge, [await Backend("old").start()])
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"1\n")
            await reader.readline()
            loop = asyncio.get_running_loop()
            began = loop.time()
            assert await edge.withdraw("old", 0.3) == 1
            assert 0.25 <= loop.time() - began < 5
            writer.close()
        finally:
            await edge.stop()

    run(body)


def test_port_in_use_names_port_and_service_and_binds_nothing(tmp_path: Path) -> None:
    async def body() -> None:
        edge = await edge_on(tmp_path)
        taken = socket.socket()
        try:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            busy = taken.getsockname()[1]
            first = free_port()
            with pytest.raises(PublishError) as caught:
                await edge.publish(
                    "shop", "web", [PortMapping("127.0.0.1", first, 80), PortMapping("127.0.0.1", busy, 81)]
                )
            message = str(caught.value)
            assert f"127.0.0.1:{busy}" in message and "service web" in message and "in use" in message
            assert "service.web.ports" in message
            with socket.socket() as probe:  # nothing was bound: all or nothing
                probe.bind(("127.0.0.1", first))
            assert edge.route("shop", "web").listeners == set()
            assert edge.process.pid is None  # and no HAProxy was started for it
        finally:
            taken.close()
            await edge.stop()

    run(body)


def test_half_close_and_a_large_transfer_arrive_whole(tmp_path: Path) -> None:
    async def body() -> None:
        received: dict[str, Any] = {}

        async def sink(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            data = await reader.read()  # until the client's EOF
            received["n"] = len(data)
            writer.write(b"x" * (8 << 20))  # then answer 8 MiB
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(sink, "127.0.0.1", 0)
        edge = await edge_on(tmp_path)
        try:
            port = free_port()
            await edge.publish("a", "s", [PortMapping("127.0.0.1", port, 80)])
            edge.admit("a", "s", "sink", "127.0.0.1", {80: server.sockets[0].getsockname()[1]})
            await edge.sync()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"y" * (16 << 20))
            await writer.drain()
            writer.write_eof()
            answer = await reader.read()
            assert received["n"] == 16 << 20 and len(answer) == 8 << 20
            writer.close()

            async def counted() -> bool:
                c = await counters(edge)
                return c["bytes_in"] == 16 << 20 and c["bytes_out"] == 8 << 20

            await until(counted, "the bytes to be counted")
        finally:
            server.close()
            await edge.stop()

    run(body)


def test_concurrent_publish_of_one_service_listens_once(tmp_path: Path) -> None:
    async def body() -> None:
        edge = await edge_on(tmp_path)
        try:
            mapping = PortMapping("127.0.0.1", free_port(), 80)
            await asyncio.gather(*(edge.publish("a", "s", [mapping]) for _ in range(3)))
            assert edge.route("a", "s").listeners == {mapping}
            assert edge.info()["listeners"] == [mapping.label]
        finally:
            await edge.stop()

    run(body)


async def hammer(port: int, stop: asyncio.Event, failures: list[str]) -> int:
    """New connections in a loop until ``stop``; every one must be answered."""
    answered = 0
    while not stop.is_set():
        try:
            if not (await ask(port)).endswith(":hi"):
                failures.append("wrong answer")
            answered += 1
        except (OSError, TimeoutError) as exc:
            failures.append(f"{type(exc).__name__}: {exc}")
    return answered


def test_a_second_listener_is_added_by_a_hitless_reload(tmp_path: Path) -> None:
    async def body() -> None:
        edge = await edge_on(tmp_path)
        try:
            backend = await Backend("one").start()
            port = await published(edge, [backend])
            master = edge.process.pid
            stop, failures = asyncio.Event(), []
            client = asyncio.create_task(hammer(port, stop, failures))
            second = free_port()
            await edge.publish("a", "s", [PortMapping("127.0.0.1", second, 80)])
            assert await ask(second) == "one:hi"
            await asyncio.sleep(0.2)  # a few more connections after the reload
            stop.set()
            assert await client > 10 and failures == []
            assert edge.process.pid == master  # reloaded, not restarted
            procs = await edge.process.api.show_proc()
            assert next(r[2] for r in procs if r[1] == "master") == 1
        finally:
            await edge.stop()

    run(body)


def test_a_new_engine_adopts_haproxy_without_a_reload_and_reconciles_servers(tmp_path: Path) -> None:
    async def body() -> None:
        first = await edge_on(tmp_path)
        a, b = await Backend("a").start(), await Backend("b").start()
        port = await published(first, [a, b])
        master = first.process.pid
        await first.close()  # the engine stops: HAProxy goes on
        assert await ask(port) in ("a:hi", "b:hi")

        second = Edge(tmp_path)  # the next engine: only "a" survived
        try:
            await second.start()
            assert second.process.pid == master
            await second.publish("a", "s", [PortMapping("127.0.0.1", port, 80)])
            second.admit("a", "s", "a", "127.0.0.1", {80: a.port})
            await second.resume()
            assert second.process.pid == master
            procs = await second.process.api.show_proc()
            assert next(r[2] for r in procs if r[1] == "master") == 0  # no reload
            assert [s.name for s in await second.process.api.show_servers()] == ["a"]
            assert {await ask(port) for _ in range(4)} == {"a:hi"}
        finally:
            await second.stop()

    run(body)


def test_a_killed_haproxy_is_restarted_and_counted(tmp_path: Path) -> None:
    async def body() -> None:
        edge = await edge_on(tmp_path)
        restarts: list[int] = []
        edge.on_restart = restarts.append
        try:
            port = await published(edge, [await Backend("one").start()])
            old = edge.process.pid
            assert old is not None
            os.kill(old, signal.SIGKILL)

            async def back() -> bool:
                try:
                    return edge.process.pid not in (None, old) and await ask(port) == "one:hi"
                except OSError:
                    return False

            await until(back, "HAProxy to be restarted and serve again")
            assert restarts == [1] and edge.info()["restarts"] == 1
        finally:
            await edge.stop()

    run(body)


def test_stop_ends_haproxy_and_frees_the_ports(tmp_path: Path) -> None:
    async def body() -> None:
        edge = await edge_on(tmp_path)
        port = await published(edge, [await Backend("one").start()])
        pid = edge.process.pid
        assert pid is not None
        await edge.unpublish("a", "s")  # the last listener gone: HAProxy stops
        assert edge.process.pid is None
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", port))

    run(body)
