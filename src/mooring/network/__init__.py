"""The edge: published ports served by one HAProxy per host, managed by the engine."""

from mooring.network.counters import Counters
from mooring.network.edge import Edge
from mooring.network.haproxy_process import EdgeError, edge_report, haproxy_binary, haproxy_version
from mooring.network.http_routes import HttpRule, RouteClash, clashes, rules_of
from mooring.network.mappings import PortMapping, PublishError, mappings_of
from mooring.network.upstreams import Upstream

__all__ = [
    "Counters",
    "Edge",
    "EdgeError",
    "HttpRule",
    "PortMapping",
    "PublishError",
    "RouteClash",
    "Upstream",
    "clashes",
    "edge_report",
    "haproxy_binary",
    "haproxy_version",
    "mappings_of",
    "rules_of",
]
