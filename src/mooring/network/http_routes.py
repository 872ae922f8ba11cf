"""HTTP routes on the edge: one shared ``mode http`` frontend, rules by Host and path prefix.

Every app's routes share one HTTP listener (and one HTTPS listener when a route has a certificate).
A request goes to the backend of the first rule that matches: exact hostnames before wildcards,
longer path prefixes before shorter ones. Rendering is pure: the edge hands in the rules, the
maintenance pages and the listener addresses and gets HAProxy config lines back.
"""

from __future__ import annotations

import html
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mooring.network.haproxy_config import safe
from mooring.network.mappings import PortMapping, PublishError

HTTP_FRONTEND = "mooring-http"
HTTPS_FRONTEND = "mooring-https"
NO_ROUTE = "mooring-no-route"
ACME_PREFIX = "/.well-known/acme-challenge/"
HTTP_ENV, HTTPS_ENV = "MOORING_HTTP_LISTEN", "MOORING_HTTPS_LISTEN"
DEFAULT_HTTP, DEFAULT_HTTPS = ":80", ":443"
RETRY_AFTER = 120


class RouteClash(PublishError):
    """Another app (or service) already routes this host and path."""


@dataclass(frozen=True)
class HttpRule:
    """One ``[[service.NAME.route]]`` of a live release, as the edge serves it."""

    app: str
    service: str
    host: str  # lower case; "*.example.com" matches one more label
    path: str  # "/" or a prefix without trailing slash
    port: int  # the instance-side port
    tls: str | None = None  # None | "acme" | "files"
    cert: str | None = None  # the PEM files of tls = { cert, key }
    key: str | None = None
    https_redirect: bool = False
    health_path: str | None = None  # HAProxy checks each upstream server of the route with it

    @property
    def backend(self) -> str:
        return http_backend_name(self.app, self.service, self.port)

    @property
    def wildcard(self) -> bool:
        return self.host.startswith("*.")

    def claim(self) -> tuple[str, str]:
        return self.host, self.path

    def where(self) -> str:
        return f"app {self.app}, service.{self.service}.route (host {self.host} path {self.path})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "path": self.path,
            "port": self.port,
            "tls": self.tls,
            "https_redirect": self.https_redirect,
            "health_path": self.health_path,
        }


def http_backend_name(app: str, service: str, port: int) -> str:
    return safe(f"http:{app}.{service}.{port}")


def rules_of(app: str, service: str, section: dict[str, Any]) -> list[HttpRule]:
    """The HTTP routes of a snapshot's service section."""
    rules = []
    for r in section.get("route") or []:
        tls = r.get("tls")
        files = tls if isinstance(tls, dict) else {}
        rules.append(
            HttpRule(
                app,
                service,
                r["host"],
                r.get("path") or "/",
                int(r["port"]),
                tls="files" if files else tls,
                cert=files.get("cert"),
                key=files.get("key"),
                https_redirect=bool(r.get("https_redirect")),
                health_path=r.get("health_path"),
            )
        )
    return rules


def clashes(rules: list[HttpRule], others: list[HttpRule]) -> list[tuple[HttpRule, HttpRule]]:
    """Pairs (new, existing) that claim the same host and path."""
    taken = {o.claim(): o for o in others}
    return [(r, taken[r.claim()]) for r in rules if r.claim() in taken]


# --- where the shared listeners are ------------------------------------------------------------


def parse_listen(text: str, what: str) -> PortMapping:
    """``HOST:PORT``, ``:PORT`` (every address) or ``[::1]:PORT`` as a listener of the edge."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise PublishError(f"{what} = {text!r} is not HOST:PORT (e.g. 0.0.0.0:80 or 127.0.0.1:8080)")
    host = host.strip("[]")
    return PortMapping(host if host not in ("", "*") else None, int(port), 0)


def listen_addresses(home: Path) -> tuple[PortMapping, PortMapping]:
    """The HTTP and HTTPS listeners shared by every app's routes.

    ``MOORING_HTTP_LISTEN`` / ``MOORING_HTTPS_LISTEN`` win, then ``[edge] http_listen`` /
    ``https_listen`` of ``$MOORING_HOME/engine.toml``, then every address on 80 and 443.
    """
    config: dict[str, Any] = {}
    path = home / "engine.toml"
    try:
        config = tomllib.loads(path.read_text()).get("edge", {})
    except FileNotFoundError:
        pass
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PublishError(f"{path}: cannot read it: {exc}") from None
    http = os.environ.get(HTTP_ENV) or config.get("http_listen") or DEFAULT_HTTP
    https = os.environ.get(HTTPS_ENV) or config.get("https_listen") or DEFAULT_HTTPS
    return parse_listen(str(http), "edge.http_listen"), parse_listen(str(https), "edge.https_listen")


# --- rendering ---------------------------------------------------------------------------------


def _host_acl(rule: HttpRule) -> str:
    if rule.wildcard:
        suffix = rule.host[1:].replace(".", r"\.")
        return rf"{{ var(txn.host) -m reg ^[^.]+{suffix}$ }}"
    return f"{{ var(txn.host) -m str {rule.host} }}"


def _conditions(rule: HttpRule) -> list[str]:
    """Alternatives (joined by ``or``) that match the rule: the prefix itself, or anything below it."""
    host = _host_acl(rule)
    if rule.path == "/":
        return [host]
    return [f"{host} {{ path -m str {rule.path} }}", f"{host} {{ path_beg {rule.path}/ }}"]


def ordered(rules: list[HttpRule]) -> list[HttpRule]:
    """First match wins: exact hosts before wildcards, then the longest path prefix."""
    return sorted(rules, key=lambda r: (r.wildcard, -len(r.path), r.host, r.path))


def page(message: str) -> str:
    """The maintenance page, quoted for HAProxy (single quotes: no escapes or variables inside)."""
    text = html.escape(message, quote=True).replace("\n", "<br>")
    body = (
        "<!doctype html><html><head><meta charset=utf-8><title>Down for maintenance</title></head>"
        f"<body><h1>Down for maintenance</h1><p>{text}</p></body></html>"
    )
    return "'" + body + "'"


def frontend_lines(
    name: str, bind: str, rules: list[HttpRule], tls: bool, challenges: Path | None, ready: set[str]
) -> list[str]:
    """A shared frontend: forwarded headers, ACME answers (HTTP), redirects to HTTPS, then the routes.

    ``ready``: hosts with a certificate; a redirect to HTTPS waits for one (a client would get the
    self-signed fallback before), so a route whose certificate cannot be had serves plain HTTP.
    """
    lines = [
        f"frontend {name}",
        "    mode http",
        f"    bind {bind}",
        "    option forwardfor",
        # a reload closes idle keep-alive connections only after a response says so: clients that
        # do not retry a request on a connection closed under them lose nothing
        "    option idle-close-on-response",
        "    timeout http-request 30s",
        "    http-request set-var(txn.host) req.hdr(host),field(1,:),lower",
        f"    http-request set-header X-Forwarded-Proto {'https' if tls else 'http'}",
        "    http-request set-header X-Forwarded-Host %[req.hdr(host)]",
    ]
    if challenges is not None:  # HTTP-01 answers, put in the map through the runtime API (tls.py)
        lines += [
            f"    http-request set-var(txn.acme) path,field(4,/),map({challenges}) if {{ path_beg {ACME_PREFIX} }}",
            '    http-request return status 200 content-type text/plain lf-string "%[var(txn.acme)]" '
            "if { var(txn.acme) -m found }",
        ]
    if not tls:
        for rule in ordered([r for r in rules if r.https_redirect and r.host in ready]):
            for cond in _conditions(rule):
                lines.append(f"    http-request redirect scheme https code 308 if {cond}")
    for rule in ordered(rules):
        lines.append(f"    use_backend {rule.backend} if {' or '.join(_conditions(rule))}")
    lines += [f"    default_backend {NO_ROUTE}", ""]
    return lines


def backend_lines(
    name: str, maintenance: str | None, balance: str = "leastconn", health_path: str | None = None
) -> list[str]:
    lines = [
        f"backend {name}",
        "    mode http",
        f"    balance {balance}",
        # a websocket or any upgraded connection lives as long as both ends keep it
        "    timeout tunnel 1h",
    ]
    if health_path is not None:  # each server is checked (runtime_api.CHECK); 2xx and 3xx pass
        lines.append(f"    option httpchk GET {health_path}")
    if maintenance is not None:
        lines.append(
            f"    http-request return status 503 content-type 'text/html; charset=utf-8' "
            f"string {page(maintenance)} hdr Retry-After {RETRY_AFTER}"
        )
    return lines


def fixed_backends() -> list[str]:
    return [
        f"backend {NO_ROUTE}",
        "    mode http",
        "    http-request return status 404 content-type text/plain "
        "string 'no route for this host and path on this server (mooring)'",
        "",
    ]
