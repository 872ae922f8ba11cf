"""The set of instances a service's published ports forward to, and how one is chosen."""

from __future__ import annotations

import asyncio
import contextlib
import enum
from dataclasses import dataclass, field
from typing import Any

from mooring.network.counters import Counters


class Balance(enum.StrEnum):
    ROUND_ROBIN = "round_robin"
    LEAST_CONNECTIONS = "least_connections"


@dataclass
class Upstream:
    """One instance as the proxy sees it: where it listens, whether it may take new connections."""

    instance_id: str
    host: str
    ports: dict[int, int]  # declared instance port -> the port this instance actually listens on
    serving: bool = True  # admitted by the executor; False once it is being drained
    available: bool = True  # process running and not unhealthy (set by the engine)
    counters: Counters = field(default_factory=Counters)
    _idle: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self._idle.set()

    @property
    def eligible(self) -> bool:
        return self.serving and self.available

    def address(self, declared_port: int) -> tuple[str, int]:
        return self.host, self.ports.get(declared_port, declared_port)

    def opened(self) -> None:
        self.counters.connections += 1
        self.counters.active += 1
        self._idle.clear()

    def closed(self) -> None:
        self.counters.active -= 1
        if self.counters.active <= 0:
            self._idle.set()

    async def drained(self, timeout: float) -> int:
        """Wait until no connection is open, at most ``timeout`` seconds; the number still open."""
        if self.counters.active > 0 and timeout > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), timeout)
        return self.counters.active

    def view(self, declared_port: int | None) -> dict[str, Any]:
        host, port = self.address(declared_port) if declared_port is not None else (self.host, None)
        return {
            "id": self.instance_id,
            "upstream": f"{host}:{port}" if port is not None else None,
            "serving": self.serving,
            "available": self.available,
            "counters": self.counters.to_dict(),
        }


@dataclass
class UpstreamSet:
    """The instances of one service; ``pick`` chooses among the eligible ones."""

    balance: Balance = Balance.LEAST_CONNECTIONS
    members: dict[str, Upstream] = field(default_factory=dict)
    counters: Counters = field(default_factory=Counters)
    _turn: int = 0

    def add(self, upstream: Upstream) -> None:
        self.members[upstream.instance_id] = upstream

    def get(self, instance_id: str) -> Upstream | None:
        return self.members.get(instance_id)

    def discard(self, instance_id: str) -> Upstream | None:
        return self.members.pop(instance_id, None)

    def eligible(self) -> list[Upstream]:
        return [u for u in self.members.values() if u.eligible]

    def pick(self, exclude: set[str] | frozenset[str] = frozenset()) -> Upstream | None:
        """Round-robin, or the fewest open connections with round-robin among ties."""
        candidates = [u for u in self.members.values() if u.eligible and u.instance_id not in exclude]
        if not candidates:
            return None
        self._turn += 1
        if self.balance is Balance.LEAST_CONNECTIONS:
            fewest = min(u.counters.active for u in candidates)
            candidates = [u for u in candidates if u.counters.active == fewest]
        return candidates[self._turn % len(candidates)]
