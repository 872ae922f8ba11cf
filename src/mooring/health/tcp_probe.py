"""The ``tcp`` check: healthy when a connection opens."""

from __future__ import annotations

import asyncio
import contextlib

from .result import Outcome, connect_failure
from .spec import ProbeSpec


async def probe_tcp(spec: ProbeSpec) -> Outcome:
    """Healthy when a TCP connection to ``host:port`` opens; it is closed straight away."""
    try:
        _, writer = await asyncio.open_connection(spec.host, spec.port)
    except TimeoutError:
        raise  # an OSError too, but probe_once words timeouts the same for every kind
    except OSError as exc:
        return Outcome(False, connect_failure(exc, spec.address))
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return Outcome(True, f"connected to {spec.address}")
