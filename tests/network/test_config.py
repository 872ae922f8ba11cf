"""The HAProxy config renderer: deterministic text HAProxy itself accepts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mooring.network import PortMapping
from mooring.network.haproxy_config import Backend, EdgeConfig, Frontend, Server, render, safe
from mooring.network.haproxy_process import haproxy_binary
from mooring.network.upstreams import split_weights


def config(tmp_path: Path) -> EdgeConfig:
    c = EdgeConfig(tmp_path / "stats.sock")
    c.frontends = [
        Frontend("shop.web.127.0.0.1_8080", PortMapping("127.0.0.1", 8080, 8000), "shop.web.8000"),
        Frontend("shop.web.any_9090", PortMapping(None, 9090, 8000), "shop.web.8000"),
        Frontend("shop.web.__1_7070", PortMapping("::1", 7070, 8000), "shop.web.8000"),
    ]
    c.backends = {
        "shop.web.8000": Backend(
            "shop.web.8000",
            {
                "web-1-aaaaaa": Server("web-1-aaaaaa", "127.0.0.1", 41001),
                "web-2-bbbbbb": Server("web-2-bbbbbb", "127.0.0.1", 41002, state="drain"),
            },
        )
    }
    return c


def test_rendered_config_is_valid_for_haproxy_and_stable(tmp_path: Path) -> None:
    text = render(config(tmp_path))
    assert text == render(config(tmp_path))  # deterministic: an unchanged state writes the same file
    path = tmp_path / "h.cfg"
    path.write_text(text)
    binary = haproxy_binary()
    assert binary is not None, "HAProxy is not installed (apt-get install haproxy)"
    check = subprocess.run([binary, "-c", "-f", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert (
        "    bind 127.0.0.1:8080\n" in text and "    bind :9090\n" in text and "bind ipv6@[::1]:7070" in text
    )
    # servers in rotation are in the file; one draining is added at runtime in its state
    assert "server web-1-aaaaaa 127.0.0.1:41001" in text and "web-2-bbbbbb" not in text
    assert "balance leastconn" in text and "option redispatch" in text


def test_structure_ignores_servers(tmp_path: Path) -> None:
    c = config(tmp_path)
    before = c.structure()
    c.backends["shop.web.8000"].servers.clear()
    assert c.structure() == before
    c.frontends.pop()
    assert c.structure() != before


def test_names_are_made_safe_for_haproxy() -> None:
    assert safe("my app/web 1") == "my_app_web_1"
    assert safe("shop.web-1:8000") == "shop.web-1:8000"


@pytest.mark.parametrize(
    ("canaries", "others", "percent", "weights"),
    [(1, 4, 50, (4, 1)), (1, 4, 10, (4, 9)), (2, 2, 50, (1, 1)), (1, 1, 99, (99, 1)), (1, 999, 99, (256, 1))],
)
def test_split_weights_give_the_canaries_their_percent(
    canaries: int, others: int, percent: int, weights: tuple[int, int]
) -> None:
    assert split_weights(canaries, others, percent) == weights
    mine, theirs = weights
    if max(percent * others, (100 - percent) * canaries) <= 256:  # exact when the weights fit
        assert canaries * mine / (canaries * mine + others * theirs) == pytest.approx(percent / 100)


def test_an_instance_counted_in_two_backends_has_whole_counters() -> None:
    """An instance behind a route and a published port: its counters add both backends' rows, and
    the mean response time stays whole milliseconds (``GET /v1/instances`` declares integers; a
    mean of 10 and 15 ms was 12.5, which the response model refused)."""
    from mooring.api.schemas import InstanceView
    from mooring.network.counters import Counters

    total = Counters()
    total.add(Counters.of({"svname": "web-1", "req_tot": "10", "rtime": "10"}))
    total.add(Counters.of({"svname": "web-1", "req_tot": "10", "rtime": "15"}))
    assert total.requests == 20 and total.response_ms in (12.0, 13.0)
    row = {
        "id": "web-1-a1b2c3", "app": "shop", "service": "web", "replica": 1, "driver": "process",
        "state": "running", "health": None, "pid": 1, "restarts": 0, "uptime": 1.0, "cpu_percent": None,
        "memory_bytes": None, "ports": {"8000": 41233}, "proxy": total.to_dict(),
    }  # fmt: skip
    assert InstanceView.model_validate(row).proxy == {
        **total.to_dict(),
        "response_ms": int(total.response_ms),
    }
