"""rollout.canary_weight through the engine, on a real HAProxy: one canary among four old instances,
weighted 50 %, takes about half the requests of the service's HTTP route and of its published port
while it is gated (held by a long analysis window, then by a pause); promoted, every instance gets
an equal share again."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from tests.engine.conftest import Mooring, free_port, wait_until
from tests.engine.releases_kit import _get
from tests.engine.test_http_routes import app_manifest, fetch, http_port, route, up, write_app

__all__ = ["http_port"]  # the fixture, shared with tests/engine/test_http_routes.py

WEIGHTED = """strategy = "canary"
parallelism = 4
canary_weight = 50

[service.web.rollout.analysis]
window = "2m"
min_requests = 1000000
"""


def edge_view(mooring: Mooring) -> dict[str, Any]:
    view: dict[str, Any] = _get(mooring, "/v1/apps/shop/proxy")["services"][0]
    return view


def events(mooring: Mooring, release_id: str) -> dict[str, list[dict[str, Any]]]:
    """The release's events by type."""
    lines = mooring.run("events", "--app", "shop", "--json", check=True).stdout.splitlines()
    by_type: dict[str, list[dict[str, Any]]] = {}
    for event in map(json.loads, filter(str.strip, lines)):
        if event.get("release_id") == release_id:
            by_type.setdefault(event["type"], []).append(event)
    return by_type


def route_counters(mooring: Mooring) -> dict[str, int]:
    routes = json.loads(mooring.run("status", "--app", "shop", "--json", check=True).stdout)["routes"]
    assert [(r["service"], r["host"], r["path"], r["port"], r["tls"]) for r in routes] == [
        ("web", "shop.example.com", "/", 8000, None)
    ]
    assert (routes[0]["servers_up"], routes[0]["servers_total"]) == (5, 5)  # the canary and 4 old
    counters: dict[str, int] = routes[0]["counters"]
    return counters


def share_of_v2(port: int, n: int) -> float:
    seen = Counter(fetch(port, "shop.example.com")[2] for _ in range(n))
    assert set(seen) <= {"1", "2"}, seen
    return seen["2"] / n


def test_a_weighted_canary_takes_its_share_while_gated_then_an_equal_one(
    mooring: Mooring, http_port: int
) -> None:
    published = free_port()
    ports = f'ports = ["127.0.0.1:{published}:8000"]'
    plain = app_manifest("shop", route("shop.example.com"), 5).replace('ports = ["8000"]', ports)
    shop = write_app(mooring, "shop", plain)
    assert up(mooring, shop, V="1")[0] == 0
    weighted = app_manifest("shop", route("shop.example.com"), 5, WEIGHTED).replace('ports = ["8000"]', ports)
    write_app(mooring, "shop", weighted)
    code, release, stderr = up(mooring, shop, "--detach", V="2")
    assert code == 0, stderr
    # the event follows the edge's change (the reload that balances by weight has finished)
    wait_until(lambda: "canary.weighted" in events(mooring, release["id"]), timeout=60, what="the weights")
    view = edge_view(mooring)
    assert view["balance"] == "weighted_round_robin" and view["canary_weight"] == 50
    assert sorted(i["weight"] for i in view["instances"] if i["serving"]) == [1, 1, 1, 1, 4]
    assert 0.35 <= share_of_v2(http_port, 400) <= 0.65
    assert 0.35 <= share_of_v2(published, 200) <= 0.65
    # the route's counters in status --json: 50 more requests, counted once each
    before = route_counters(mooring)
    assert 0.0 < share_of_v2(http_port, 50) < 1.0
    after = route_counters(mooring)
    assert (after["requests"] - before["requests"], after["http_2xx"] - before["http_2xx"]) == (50, 50)
    assert after["http_5xx"] == 0 and after["bytes_out"] > before["bytes_out"] > 0
    # ps --wide: each instance's counters on the edge (an instance behind it counted requests)
    wide = mooring.run("ps", "--app", "shop", "--wide", check=True).stdout.splitlines()
    assert wide[0].split()[-8:] == ["REQUESTS", "2XX", "4XX", "5XX", "IN", "OUT", "SESSIONS", "NOTE"]
    at = wide[0].index("REQUESTS")  # the cells before it may hold spaces (PORTS, UPSTREAM)
    served = [int(line[at:].split()[0]) for line in wide[1:] if line[at:].split()[0] != "-"]
    assert len(served) >= 5 and sum(served) >= 50, wide
    assert "REQUESTS" not in mooring.run("ps", "--app", "shop", check=True).stdout
    table = mooring.run("status", "--app", "shop", check=True).stdout.split("routes:\n")[1].splitlines()
    assert table[0].split()[:4] == ["HOST", "PATH", "SERVICE:PORT", "UP"] and "5/5" in table[1].split()

    mooring.run("rollout", "pause", "--app", "shop", check=True)  # a paused canary keeps its share
    wait_until(lambda: "release.paused" in events(mooring, release["id"]), what="the pause")
    assert edge_view(mooring)["balance"] == "weighted_round_robin"

    mooring.run("rollout", "resume", "--app", "shop", "--detach", check=True)  # promoted: batch 2
    wait_until(lambda: len(events(mooring, release["id"]).get("batch.started", [])) == 2, what="batch 2")
    view = edge_view(mooring)
    assert view["balance"] == "least_connections" and view["canary_weight"] is None
    assert all(i["weight"] == 1 for i in view["instances"])
    weighed = events(mooring, release["id"])["canary.weighted"]
    assert len(weighed) == 1 and weighed[0]["percent"] == 50 and weighed[0]["service"] == "web"
