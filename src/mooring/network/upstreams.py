"""What the edge serves per service: its instances (upstreams), published ports and HTTP routes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

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

    def backends(self, ports: Iterable[int]) -> set[str]:
        """The names of the backends this service's instances serve in (published ports and routes)."""
        names = {backend_name(self.app, self.service, p) for p in ports}
        return names | {r.backend for r in self.http}
