"""HTTP routes on the edge's shared listener, on a real HAProxy: by Host, by path prefix, wildcards,
forwarded headers, a clash between apps, maintenance pages and websockets across a drain."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from pathlib import Path

import pytest

from mooring.network import Edge, PortMapping
from mooring.network.http_routes import HttpRule, RouteClash
from tests.network.http_kit import HttpBackend, aget, get_many, served_by
from tests.network.kit import edge_on, free_port, run, until


@pytest.fixture
def http_port(monkeypatch: pytest.MonkeyPatch) -> int:
    port = free_port()
    monkeypatch.setenv("MOORING_HTTP_LISTEN", f"127.0.0.1:{port}")
    return port


async def routed(edge: Edge, app: str, service: str, backend: HttpBackend, *rules: tuple[str, str]) -> None:
    await edge.route_http(app, service, [HttpRule(app, service, h, p, 80) for h, p in rules])
    edge.admit(app, service, backend.name, "127.0.0.1", {80: backend.port})
    await edge.sync()


def test_two_apps_share_one_listener_by_host_and_by_path(tmp_path: Path, http_port: int) -> None:
    async def body() -> None:
        edge = await edge_on(tmp_path)
        try:
            shop, blog, api, wild = [await HttpBackend(n).start() for n in ("shop", "blog", "api", "wild")]
            await routed(edge, "shop", "web", shop, ("shop.example.com", "/"))
            await routed(edge, "shop", "api", api, ("shop.example.com", "/api"))
            await routed(edge, "blog", "web", blog, ("blog.example.com", "/"))
            await routed(edge, "blog", "wild", wild, ("*.example.com", "/"))
            assert served_by(await aget(http_port, "shop.example.com", "/")) == "shop"
            assert served_by(await aget(http_port, "SHOP.example.com:8080", "/cart")) == "shop"
            assert served_by(await aget(http_port, "shop.example.com", "/api")) == "api"
            assert served_by(await aget(http_port, "shop.example.com", "/api/v1/items?q=1")) == "api"
            assert (
                served_by(await aget(http_port, "shop.example.com", "/apix")) == "shop"
            )  # a prefix is a segment
            assert served_by(await aget(http_port, "blog.example.com", "/api")) == "blog"
            assert served_by(await aget(http_port, "other.example.com", "/")) == "wild"
            status, _, text = await aget(http_port, "a.b.example.com", "/")  # one label, not two
            assert status == 404 and "no route" in text
            status, _, _ = await aget(http_port, "example.org", "/")
            assert status == 404
            _, _, text = await aget(http_port, "shop.example.com", "/x")
            headers = json.loads(text)["headers"]
            assert headers["x-forwarded-for"] == "127.0.0.1"
            assert headers["x-forwarded-proto"] == "http"
            assert headers["x-forwarded-host"] == "shop.example.com"
            assert edge.info()["listeners"] == [f"127.0.0.1:{http_port}"]
        finally:
            await edge.stop()

    run(body)


def test_a_host_and_path_routed_by_another_app_is_refused_naming_both(tmp_path: Path, http_port: int) -> None:
    async def body() -> None:
        edge = await edge_on(tmp_path)
        try:
            shop = await HttpBackend("shop").start()
            await routed(edge, "shop", "web", shop, ("shop.example.com", "/"))
            with pytest.raises(RouteClash) as caught:
                await edge.route_http("blog", "web", [HttpRule("blog", "web", "shop.example.com", "/", 80)])
            assert "app blog" in str(caught.value) and "app shop" in str(caught.value)
            assert served_by(await aget(http_port, "shop.example.com")) == "shop"
        finally:
            await edge.stop()

    run(body)


def test_maintenance_answers_503_with_a_page_and_retry_after(tmp_path: Path, http_port: int) -> None:
    async def body() -> None:
        edge = await edge_on(tmp_path)
        try:
            shop, blog = await HttpBackend("shop").start(), await HttpBackend("blog").start()
            await routed(edge, "shop", "web", shop, ("shop.example.com", "/"))
            await routed(edge, "blog", "web", blog, ("blog.example.com", "/"))
            await edge.set_maintenance("shop", "Back at 10:00 <b>UTC</b> 'soon'")
            status, headers, text = await aget(http_port, "shop.example.com", "/")
            assert status == 503 and headers["retry-after"] == "120"
            assert "Back at 10:00 &lt;b&gt;UTC&lt;/b&gt; &#x27;soon&#x27;" in text
            assert served_by(await aget(http_port, "blog.example.com")) == "blog"
            await edge.set_maintenance("shop", None)
            assert served_by(await aget(http_port, "shop.example.com")) == "shop"
        finally:
            await edge.stop()

    run(body)


def test_a_websocket_stays_open_across_a_drain_until_it_closes(tmp_path: Path, http_port: int) -> None:
    async def body() -> None:
        edge = await edge_on(tmp_path)
        try:
            old, new = await HttpBackend("old").start(), await HttpBackend("new").start()
            await routed(edge, "shop", "web", old, ("shop.example.com", "/"))
            reader, writer = await asyncio.open_connection("127.0.0.1", http_port)
            writer.write(
                b"GET /live HTTP/1.1\r\nHost: shop.example.com\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n\r\n"
            )
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            assert head.startswith(b"HTTP/1.1 101")
            edge.admit("shop", "web", new.name, "127.0.0.1", {80: new.port})  # the cut-over
            edge.retire(old.name)
            await edge.sync()  # as blue_green switches: the new one in and the old one draining at once
            draining = asyncio.create_task(edge.withdraw(old.name, drain_timeout=30))
            for i in range(3):  # the old instance is draining; its websocket carries on
                writer.write(f"ping {i}".encode())
                assert await asyncio.wait_for(reader.readexactly(6), 10) == f"ping {i}".encode()
                assert served_by(await aget(http_port, "shop.example.com")) == "new"
            assert not draining.done()
            writer.close()
            assert await asyncio.wait_for(draining, 20) == 0  # drained when the websocket closed
        finally:
            await edge.stop()

    run(body)


def test_an_instance_admitted_at_runtime_gets_its_connections_reused(tmp_path: Path, http_port: int) -> None:
    """A server added through the runtime API keeps idle server connections for the next requests,
    as one in the config file does: without ``pool-purge-delay`` (which ``add server`` does not take
    from the defaults) HAProxy 2.6 opened a new connection to the instance for every request, a
    third of the keep-alive throughput in bench/route_bench.py."""

    async def body() -> None:
        edge = await edge_on(tmp_path)
        try:
            shop = await HttpBackend("shop").start()
            await edge.route_http("shop", "web", [HttpRule("shop", "web", "shop.example.com", "/", 80)])
            await edge.sync()  # HAProxy runs with the route and no server yet
            edge.admit("shop", "web", shop.name, "127.0.0.1", {80: shop.port})
            await edge.sync()  # the server comes in at runtime (add server), no reload
            assert await asyncio.to_thread(get_many, http_port, "shop.example.com", 20) == [200] * 20
            assert shop.accepted <= 2, f"{shop.accepted} connections to the instance for 20 requests"
        finally:
            await edge.stop()

    run(body)


def test_a_weighted_canary_gets_its_share_on_routes_and_published_ports(
    tmp_path: Path, http_port: int
) -> None:
    """rollout.canary_weight in the edge: 1 canary among 4 old instances, weighted 50 %, gets about
    half the requests (round-robin by weight: leastconn would give an idle canary a fifth, whatever
    its weight); equal shares again give it a fifth."""

    async def body() -> None:
        edge = await edge_on(tmp_path)
        try:
            backends = [await HttpBackend(n).start() for n in ("v2", "old1", "old2", "old3", "old4")]
            published = free_port()
            await edge.publish("shop", "web", [PortMapping("127.0.0.1", published, 80)])
            await edge.route_http("shop", "web", [HttpRule("shop", "web", "shop.example.com", "/", 80)])
            for b in backends:
                edge.admit("shop", "web", b.name, "127.0.0.1", {80: b.port})
            await edge.sync()

            async def share_of_v2(port: int, n: int = 400) -> float:
                names = [served_by(await aget(port, "shop.example.com")) for _ in range(n)]
                return names.count("v2") / n

            await edge.weigh("shop", "web", ["v2"], 50)
            view = edge.view("shop")[0]
            assert view["balance"] == "weighted_round_robin" and view["canary_weight"] == 50
            assert {i["id"]: i["weight"] for i in view["instances"]} == {
                "v2": 4,
                "old1": 1,
                "old2": 1,
                "old3": 1,
                "old4": 1,
            }
            assert 0.35 <= await share_of_v2(http_port) <= 0.65
            assert 0.35 <= await share_of_v2(published) <= 0.65
            await edge.weigh("shop", "web", [], None)  # promoted: equal shares
            assert edge.view("shop")[0]["balance"] == "least_connections"
            assert 0.1 <= await share_of_v2(http_port, 200) <= 0.3
            await edge.weigh("shop", "web", ["v2"], 10)
            await edge.forget("v2")  # a rolled back canary: its share goes back to the others
            assert edge.view("shop")[0]["balance"] == "least_connections"
            assert all(i["weight"] == 1 for i in edge.view("shop")[0]["instances"])
        finally:
            await edge.stop()

    run(body)


def test_a_server_failing_the_routes_health_path_gets_none_of_its_requests(
    tmp_path: Path, http_port: int
) -> None:
    async def body() -> None:
        edge = await edge_on(tmp_path)
        try:
            good, bad = await HttpBackend("good").start(), await HttpBackend("bad").start()
            rule = HttpRule("shop", "web", "shop.example.com", "/", 80, health_path="/health")
            await edge.route_http("shop", "web", [rule])
            await edge.sync()
            for b in (good, bad):  # admitted at runtime: their checks start with them
                edge.admit("shop", "web", b.name, "127.0.0.1", {80: b.port})
            await edge.sync()

            async def servers() -> dict[str, int]:
                await edge.refresh()
                up: dict[str, int] = edge.view("shop")[0]["routes"][0]["servers"]
                return up

            await until(lambda: _is(servers(), {"up": 2, "total": 2}), "both servers checked up")
            bad.health = 503
            await until(lambda: _is(servers(), {"up": 1, "total": 2}), "the failing server down", 15)
            names = {served_by(await aget(http_port, "shop.example.com")) for _ in range(30)}
            assert names == {"good"}
            bad.health = 200
            await until(lambda: _is(servers(), {"up": 2, "total": 2}), "the server back", 15)
            other = HttpRule("shop", "web", "www.example.com", "/", 80, health_path="/health")
            await edge.route_http("shop", "web", [rule, other])  # a reload: the servers from the config
            bad.health = 503
            await until(lambda: _is(servers(), {"up": 1, "total": 2}), "down after the reload", 15)
        finally:
            await edge.stop()

    run(body)


async def _is(value: Awaitable[dict[str, int]], expected: dict[str, int]) -> bool:
    return await value == expected
