"""The ``grpc`` check: the standard ``grpc.health.v1.Health/Check`` over a reused channel.

Imported only once a grpc check exists: loading grpc costs ~50 ms, and its first call starts a poller
thread.
"""

from __future__ import annotations

from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from .connections import ConnectionCache
from .result import Outcome, one_line, timed_out
from .spec import ProbeSpec

_SERVING_STATUS_NAMES = {
    health_pb2.HealthCheckResponse.UNKNOWN: "UNKNOWN",
    health_pb2.HealthCheckResponse.SERVING: "SERVING",
    health_pb2.HealthCheckResponse.NOT_SERVING: "NOT_SERVING",
    health_pb2.HealthCheckResponse.SERVICE_UNKNOWN: "SERVICE_UNKNOWN",
}
# A probe must reach the instance itself, never a proxy named in the engine's environment.
_CHANNEL_OPTIONS = [("grpc.enable_http_proxy", 0)]


GrpcChannels = ConnectionCache[Any]


def new_grpc_channels() -> GrpcChannels:
    """One ``grpc.aio`` channel per target address, shared by every check of that target."""
    return ConnectionCache(
        lambda target: grpc.aio.insecure_channel(target, options=_CHANNEL_OPTIONS),
        lambda channel: channel.close(),
    )


async def probe_grpc(spec: ProbeSpec, channels: GrpcChannels | None) -> Outcome:
    """Ask the server's health service about ``spec.grpc_service``; ``SERVING`` is healthy."""
    if channels is not None:
        return await _check(spec, channels)
    own = new_grpc_channels()
    try:
        return await _check(spec, own)
    finally:
        await own.close()


async def _check(spec: ProbeSpec, channels: GrpcChannels) -> Outcome:
    stub = health_pb2_grpc.HealthStub(channels.get(spec.address))
    request = health_pb2.HealthCheckRequest(service=spec.grpc_service)
    try:
        response = await stub.Check(request, timeout=spec.timeout)
    except grpc.aio.AioRpcError as exc:
        if exc.code() == grpc.StatusCode.UNAVAILABLE:
            # A channel that failed to connect backs off before retrying (1 s, growing to minutes),
            # which would delay noticing that the server came up; a fresh channel connects at once.
            channels.discard(spec.address)
        return Outcome(False, _rpc_failure(spec, exc))
    status = _SERVING_STATUS_NAMES.get(response.status, f"status {response.status}")
    return Outcome(response.status == health_pb2.HealthCheckResponse.SERVING, f"grpc {status}")


def _rpc_failure(spec: ProbeSpec, exc: Any) -> str:
    """Why the Check RPC failed, in words."""
    code = exc.code()
    details = str(exc.details() or "")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return timed_out(spec.timeout)
    if code == grpc.StatusCode.UNIMPLEMENTED:
        return f"grpc UNIMPLEMENTED: {spec.address} does not serve grpc.health.v1.Health"
    if code == grpc.StatusCode.NOT_FOUND:
        return f"grpc NOT_FOUND: {spec.address} does not know service {spec.grpc_service!r}"
    if code == grpc.StatusCode.UNAVAILABLE:
        if "connection refused" in details.lower():
            return f"grpc UNAVAILABLE: connection refused to {spec.address}"
        return f"grpc UNAVAILABLE: {one_line(details, tail=False)}"
    name = getattr(code, "name", str(code))
    return f"grpc {name}: {one_line(details, tail=False)}" if details else f"grpc {name}"
