"""What the edge serves per service: its instances (upstreams), published ports and HTTP routes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from math import gcd

from mooring.network.haproxy_config import backend_name
from mooring.network.http_routes import HttpRule
from mooring.network.mappings import PortMapping


@dataclass
class Upstream:
    """One instance as the edge sees it: where it listens, whether it may take new connections."""

    instance_id: str
    host: str
    ports: dict[int, int]  # declared instance port -> the port this instance actually listens on
    serving: bool = True  # admitted by the executor; False once it is being drained
    available: bool = True  # process running and not unhealthy (set by the engine)

    @property
    def state(self) -> str:
        if not self.serving:
            return "drain"
        return "ready" if self.available else "maint"


@dataclass
class Route:
    """A service's published ports and the instances they forward to."""

    app: str
    service: str
    listeners: set[PortMapping] = field(default_factory=set)
    members: dict[str, Upstream] = field(default_factory=dict)
    http: list[HttpRule] = field(default_factory=list)  # its HTTP routes on the shared listener
    canary: set[str] = field(default_factory=set)  # instances of a weighted canary being gated
    canary_weight: int | None = None  # the percent of new connections and requests they get

    @property
    def weighted(self) -> bool:
        return self.canary_weight is not None and bool(self.canary)

    @property
    def balance(self) -> str:
        """HAProxy's leastconn sends to any idle server alike whatever its weight: a weighted canary
        is balanced round-robin, which honours weights for every connection and request."""
        return "roundrobin" if self.weighted else "leastconn"

    def weights(self) -> dict[str, int]:
        """Each member's server weight; empty (all 1) unless a weighted canary shares with others."""
        if self.canary_weight is None:
            return {}
        taking = [u.instance_id for u in self.members.values() if u.state == "ready"]
        canaries = [i for i in taking if i in self.canary]
        if not canaries or len(canaries) == len(taking):
            return {}
        mine, theirs = split_weights(len(canaries), len(taking) - len(canaries), self.canary_weight)
        return {i: (mine if i in self.canary else theirs) for i in self.members}

    def backends(self, ports: Iterable[int]) -> set[str]:
        """The names of the backends this service's instances serve in (published ports and routes)."""
        names = {backend_name(self.app, self.service, p) for p in ports}
        return names | {r.backend for r in self.http}


def split_weights(canaries: int, others: int, percent: int) -> tuple[int, int]:
    """Server weights (HAProxy's 1-256) for each canary and each other server, so that the canaries
    together take ``percent`` % of the new connections (as near as whole weights allow)."""
    mine, theirs = percent * others, (100 - percent) * canaries
    common = gcd(mine, theirs)
    mine, theirs = mine // common, theirs // common
    top = max(mine, theirs)
    if top > 256:
        mine, theirs = max(1, round(mine * 256 / top)), max(1, round(theirs * 256 / top))
    return mine, theirs
