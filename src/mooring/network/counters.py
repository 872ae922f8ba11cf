"""Traffic counters of a service or of one instance, read from HAProxy's ``show stat``."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


def _int(row: dict[str, str], key: str) -> int:
    value = row.get(key) or "0"
    return int(value) if value.isdigit() else 0


@dataclass
class Counters:
    """``bytes_in`` flows client -> instance, ``bytes_out`` instance -> client.

    ``errors``: for a service, connections no instance could take (none in rotation, or every one
    refused); for an instance, connection attempts it refused or answered with an error.
    HAProxy keeps them; a reload of HAProxy starts them at zero.
    """

    connections: int = 0
    active: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    errors: int = 0
    # HTTP routes only (0 on published TCP ports): requests and the responses by class
    requests: int = 0
    http_2xx: int = 0
    http_4xx: int = 0
    http_5xx: int = 0
    response_ms: float = 0.0  # mean response time of the last 1024 requests (HAProxy's rtime)

    @staticmethod
    def of(row: dict[str, str]) -> Counters:
        """From a backend or server row of ``show stat``.

        A server's refused attempts that HAProxy retried elsewhere are ``wretr``/``wredis`` on
        it; on a backend they are not errors, since the client was served.
        """
        errors = _int(row, "econ") + _int(row, "eresp")
        if row.get("svname") != "BACKEND":
            errors += _int(row, "wretr") + _int(row, "wredis")
        return Counters(
            connections=_int(row, "stot"),
            active=_int(row, "scur"),
            bytes_in=_int(row, "bin"),
            bytes_out=_int(row, "bout"),
            errors=errors,
            requests=_int(row, "req_tot")
            or _int(row, "hrsp_1xx")
            + _int(row, "hrsp_2xx")
            + _int(row, "hrsp_3xx")
            + _int(row, "hrsp_4xx")
            + _int(row, "hrsp_5xx")
            + _int(row, "hrsp_other"),
            http_2xx=_int(row, "hrsp_2xx"),
            http_4xx=_int(row, "hrsp_4xx"),
            http_5xx=_int(row, "hrsp_5xx"),
            response_ms=float(_int(row, "rtime")),
        )

    def add(self, other: Counters) -> None:
        if self.requests + other.requests:
            # whole milliseconds, as HAProxy counts them: the instance view's counters are integers
            self.response_ms = float(
                round(
                    (self.response_ms * self.requests + other.response_ms * other.requests)
                    / (self.requests + other.requests)
                )
            )
        self.connections += other.connections
        self.active += other.active
        self.bytes_in += other.bytes_in
        self.bytes_out += other.bytes_out
        self.errors += other.errors
        self.requests += other.requests
        self.http_2xx += other.http_2xx
        self.http_4xx += other.http_4xx
        self.http_5xx += other.http_5xx

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
