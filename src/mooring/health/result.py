"""The outcome of one probe, and the wording of its ``detail``.

Kept apart from the probes themselves so the pure state machine imports no I/O code.
"""

from __future__ import annotations

import socket
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple


@dataclass(frozen=True)
class ProbeResult:
    """What one probe saw: healthy or not, why in words, how long it took and when it ended.

    ``at`` is wall-clock time (``time.time()``); ``detail`` is written for an operator, e.g.
    ``HTTP 503``, ``connection refused to 127.0.0.1:8080`` or ``timed out after 5s``.
    """

    ok: bool
    detail: str
    latency_ms: float
    at: float
    status_code: int | None = None
    exit_code: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    @property
    def answered(self) -> bool:
        """The instance itself answered (an HTTP status, an exec exit code, a gRPC status), as opposed
        to no answer at all (connection refused, timeout): a failure it answered is a verdict."""
        return self.status_code is not None or self.exit_code is not None or self.detail.startswith("grpc ")


class Outcome(NamedTuple):
    """What a probe of one kind reports; ``probe_once`` adds the timing to make a ``ProbeResult``."""

    ok: bool
    detail: str
    status_code: int | None = None
    exit_code: int | None = None


DETAIL_TAIL_CHARS = 200


def format_seconds(seconds: float) -> str:
    """``5`` -> ``5s``, ``0.25`` -> ``250ms``: durations as an operator writes them."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    return f"{seconds:g}s"


def timed_out(seconds: float) -> str:
    """The detail of a probe that hit its timeout."""
    return f"timed out after {format_seconds(seconds)}"


def one_line(data: bytes | str, *, tail: bool, limit: int = DETAIL_TAIL_CHARS) -> str:
    """Program or server output squeezed onto one line: the first or last ``limit`` characters."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return "..." + text[-limit:] if tail else text[:limit] + "..."


def connect_failure(exc: BaseException, address: str) -> str:
    """Why a connection to ``address`` failed, in words (``connection refused to 127.0.0.1:8080``)."""
    errors = list(_os_errors(exc))
    if errors and all(isinstance(e, ConnectionRefusedError) for e in errors):
        return f"connection refused to {address}"
    for error in errors:
        if isinstance(error, socket.gaierror):
            return f"cannot resolve {address}: {error.strerror or error}"
    reason = next((e.strerror for e in errors if e.strerror), None) or str(exc) or type(exc).__name__
    return f"cannot connect to {address}: {reason}"


def _os_errors(exc: BaseException) -> list[OSError]:
    """The OSErrors at the root of ``exc``: libraries wrap them (httpx -> httpcore -> OSError) or group
    them (one per resolved address)."""
    found: list[OSError] = []
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno is not None:
            found.append(current)
        if isinstance(current, BaseExceptionGroup):
            todo.extend(current.exceptions)
        cause = current.__cause__ or current.__context__
        if cause is not None:
            todo.append(cause)
    return found
