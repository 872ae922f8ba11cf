"""[[service.NAME.route]]: the HTTP routes' keys, their errors (with key paths), and their snapshot."""

from __future__ import annotations

from pathlib import Path

from mooring.manifest import load_manifest_text
from mooring.manifest.diff import spec_hash
from mooring.manifest.snapshot import build_snapshot
from tests.manifest.helpers import errors_of, load

WEB = """
[app]
name = "shop"

[service.web]
command = ["python3", "app.py"]
ports = ["8000", "9000"]
"""


def test_a_route_defaults_to_every_path_on_the_first_declared_port() -> None:
    loaded = load(WEB + '[[service.web.route]]\nhost = "Shop.Example.com."\n')
    route = build_snapshot(loaded.manifest).data["service"]["web"]["route"][0]
    assert route == {
        "host": "shop.example.com",
        "path": "/",
        "port": 8000,
        "tls": None,
        "https_redirect": False,
    }


def test_paths_are_prefixes_without_a_trailing_slash_and_tls_files_become_absolute(tmp_path: Path) -> None:
    text = WEB + (
        '[[service.web.route]]\nhost = "shop.example.com"\npath = "/api/"\nport = 9000\n'
        'tls = { cert = "certs/shop.pem", key = "certs/shop.key" }\nhttps_redirect = true\n'
    )
    loaded = load_manifest_text(text, environ={}, base_dir=tmp_path)
    route = build_snapshot(loaded.manifest).data["service"]["web"]["route"][0]
    assert route["path"] == "/api" and route["port"] == 9000
    assert route["tls"] == {"cert": str(tmp_path / "certs/shop.pem"), "key": str(tmp_path / "certs/shop.key")}


def test_a_manifest_without_routes_snapshots_as_before_and_routes_restart_nothing() -> None:
    plain = build_snapshot(load(WEB).manifest).data
    assert "route" not in plain["service"]["web"]
    routed = build_snapshot(load(WEB + '[[service.web.route]]\nhost = "a.example.com"\n').manifest).data
    assert spec_hash(routed["service"]["web"]) == spec_hash(plain["service"]["web"])


def test_bad_routes_name_the_key_and_what_to_do() -> None:
    text = WEB + (
        '[[service.web.route]]\nhost = "https://shop.example.com"\n'
        '[[service.web.route]]\nhost = "a.example.com"\npath = "api"\n'
    )
    assert errors_of(text) == [
        "mooring.toml: service.web.route[0].host: 'https://shop.example.com' is not a hostname; write it as "
        "shop.example.com, or *.example.com for every name one label below example.com (no scheme, port or path)",
        'mooring.toml: service.web.route[1].path: \'api\' is not a path prefix; write it as "/" or "/api" '
        "(no query, no spaces)",
    ]


def test_cross_checks_port_redirect_wildcard_acme_and_duplicates() -> None:
    text = WEB + (
        '[[service.web.route]]\nhost = "a.example.com"\nport = 7000\n'
        '[[service.web.route]]\nhost = "b.example.com"\nhttps_redirect = true\n'
        '[[service.web.route]]\nhost = "*.example.com"\ntls = "acme"\n'
        '[service.api]\ncommand = ["python3", "api.py"]\nports = ["8000"]\n'
        '[[service.api.route]]\nhost = "a.example.com"\n'
    )
    errors = errors_of(text)
    assert any(
        "service.web.route[0].port: port 7000 is not one of the service's ports [8000, 9000]" in e
        for e in errors
    )
    assert any(
        "service.web.route[1].https_redirect: redirects to HTTPS but the route has no certificate" in e
        for e in errors
    )
    assert any(
        "service.web.route[2].tls: a wildcard name cannot get a certificate over ACME" in e for e in errors
    )
    assert any(
        "service.api.route[0]: host a.example.com path / is already routed by service.web.route[0]" in e
        for e in errors
    )


def test_a_health_path_is_a_path_shared_by_the_routes_to_one_port() -> None:
    loaded = load(WEB + '[[service.web.route]]\nhost = "a.example.com"\nhealth_path = "/health"\n')
    route = build_snapshot(loaded.manifest).data["service"]["web"]["route"][0]
    assert route["health_path"] == "/health"
    text = WEB + (
        '[[service.web.route]]\nhost = "a.example.com"\nhealth_path = "health"\n'
        '[[service.web.route]]\nhost = "b.example.com"\nhealth_path = "/up"\n'
        '[[service.web.route]]\nhost = "c.example.com"\nport = 8000\nhealth_path = "/ready"\n'
    )
    assert errors_of(text) == [
        "mooring.toml: service.web.route[0].health_path: 'health' is not a path; write it as \"/health\" "
        "(no query, no spaces)"
    ]
    text = text.replace('health_path = "health"\n', "")
    assert errors_of(text) == [
        "mooring.toml: service.web.route[2].health_path: routes to one port share one set of upstream "
        "servers, checked with '/up' by an earlier route (give every route of service.web to this port "
        'health_path = "/up")'
    ]
