"""Run one check once: ``probe_once`` bounds it by its timeout and turns every failure into a result."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .connections import ConnectionCache
from .exec_probe import probe_exec
from .http_probe import new_http_client, probe_http
from .result import Outcome, ProbeResult, timed_out
from .spec import ProbeSpec
from .tcp_probe import probe_tcp

if TYPE_CHECKING:
    import httpx

__all__ = ["ProbeResult", "new_http_client", "probe_once"]

log = logging.getLogger(__name__)

# Runs an exec check inside a container (the container driver supplies it): (container, argv) -> outcome.
ContainerExec = Callable[[str, tuple[str, ...]], Awaitable[Outcome]]


async def probe_once(
    spec: ProbeSpec,
    *,
    http_client: httpx.AsyncClient | None = None,
    grpc_channels: ConnectionCache[Any] | None = None,
    container_exec: ContainerExec | None = None,
) -> ProbeResult:
    """Run ``spec`` once, within ``spec.timeout``; never raises for a failed check.

    Pass a long-lived ``http_client`` (``new_http_client``) and ``grpc_channels``
    (``grpc_probe.new_grpc_channels``) to reuse connections across probes; without them the probe
    opens its own and closes them before returning.
    """
    started = time.perf_counter()
    try:
        async with asyncio.timeout(spec.timeout):
            outcome = await _probe(spec, http_client, grpc_channels, container_exec)
    except TimeoutError:
        outcome = Outcome(False, timed_out(spec.timeout))
    except Exception as exc:
        # A bug or an unforeseen library error must still read as a failed check, not kill the prober.
        log.exception("%s: probe raised", spec.describe())
        outcome = Outcome(False, f"probe error: {type(exc).__name__}: {exc}")
    latency_ms = (time.perf_counter() - started) * 1000
    return ProbeResult(
        ok=outcome.ok,
        detail=outcome.detail,
        latency_ms=latency_ms,
        at=time.time(),
        status_code=outcome.status_code,
        exit_code=outcome.exit_code,
    )


async def _probe(
    spec: ProbeSpec,
    http_client: httpx.AsyncClient | None,
    grpc_channels: ConnectionCache[Any] | None,
    container_exec: ContainerExec | None = None,
) -> Outcome:
    if spec.kind == "http":
        if http_client is not None:
            return await probe_http(spec, http_client)
        async with new_http_client() as client:
            return await probe_http(spec, client)
    if spec.kind == "tcp":
        return await probe_tcp(spec)
    if spec.kind == "exec" and spec.container is not None:
        if container_exec is None:
            return Outcome(False, f"no container engine to run the check in container {spec.container}")
        assert spec.command
        return await container_exec(spec.container, spec.command)
    if spec.kind == "exec":
        return await probe_exec(spec)
    from .grpc_probe import probe_grpc  # grpc is loaded only once a grpc check runs

    return await probe_grpc(spec, grpc_channels)
