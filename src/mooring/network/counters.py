"""Traffic counters of a service or of one instance behind the proxy."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class Counters:
    """``bytes_in`` flows client -> instance, ``bytes_out`` instance -> client.

    ``errors`` counts connections the proxy could not serve: no ready instance, or every
    instance refused the connection.
    """

    connections: int = 0
    active: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    errors: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
