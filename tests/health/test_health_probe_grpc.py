"""The grpc probe and prober against a real grpc.aio server with the standard health service."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from mooring.health import HealthState, Prober, ProbeSpec, Transition, probe_once
from mooring.health.grpc_probe import new_grpc_channels

from .health_testkit import Runner, free_port

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@contextlib.asynccontextmanager
async def grpc_server(
    port: int = 0, *, with_health: bool = True
) -> AsyncIterator[tuple[health.aio.HealthServicer, int]]:
    """A grpc.aio server on loopback, with the standard health servicer unless told otherwise."""
    server = grpc.aio.server()
    servicer = health.aio.HealthServicer()
    if with_health:
        health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    try:
        yield servicer, bound
    finally:
        await server.stop(None)


def test_serving_is_healthy_and_not_serving_is_not(run: Runner) -> None:
    async def probe() -> list[tuple[bool, str]]:
        async with grpc_server() as (servicer, port):
            await servicer.set("api", SERVING)
            spec = ProbeSpec("grpc", port=port, grpc_service="api")
            first = await probe_once(spec)
            await servicer.set("api", NOT_SERVING)
            second = await probe_once(spec)
            return [(first.ok, first.detail), (second.ok, second.detail)]

    assert run(probe()) == [(True, "grpc SERVING"), (False, "grpc NOT_SERVING")]


def test_an_unknown_service_is_named(run: Runner) -> None:
    async def probe() -> tuple[bool, str, int]:
        async with grpc_server() as (_, port):
            result = await probe_once(ProbeSpec("grpc", port=port, grpc_service="nope"))
            return result.ok, result.detail, port

    ok, detail, port = run(probe())
    assert (ok, detail) == (False, f"grpc NOT_FOUND: 127.0.0.1:{port} does not know service 'nope'")


def test_a_server_without_the_health_service_is_unimplemented(run: Runner) -> None:
    async def probe() -> tuple[bool, str, int]:
        async with grpc_server(with_health=False) as (_, port):
            result = await probe_once(ProbeSpec("grpc", port=port))
            return result.ok, result.detail, port

    ok, detail, port = run(probe())
    assert (ok, detail) == (
        False,
        f"grpc UNIMPLEMENTED: 127.0.0.1:{port} does not serve grpc.health.v1.Health",
    )


def test_nothing_listening_is_unavailable_connection_refused(run: Runner) -> None:
    port = free_port()
    result = run(probe_once(ProbeSpec("grpc", port=port, timeout=2)))
    assert (result.ok, result.detail) == (False, f"grpc UNAVAILABLE: connection refused to 127.0.0.1:{port}")


def test_a_channel_is_reused_per_target(run: Runner) -> None:
    async def probe() -> tuple[int, bool]:
        channels = new_grpc_channels()
        try:
            async with grpc_server() as (_, port):
                spec = ProbeSpec("grpc", port=port)
                first = channels.get(spec.address)
                assert (await probe_once(spec, grpc_channels=channels)).ok
                assert (await probe_once(spec, grpc_channels=channels)).ok
                return len(channels.keys()), channels.get(spec.address) is first
        finally:
            await channels.close()

    assert run(probe()) == (1, True)


def test_prober_follows_serving_status(run: Runner) -> None:
    async def scenario() -> list[tuple[str, str]]:
        changes: list[Transition] = []
        async with grpc_server() as (servicer, port), Prober() as prober:
            await servicer.set("api", SERVING)
            spec = ProbeSpec("grpc", port=port, grpc_service="api", interval=0.05, retries=2, timeout=2)
            prober.register("api-1", spec, lambda _, t: changes.append(t))
            await prober.wait_for("api-1", {HealthState.HEALTHY}, timeout=10)
            await servicer.set("api", NOT_SERVING)
            status = await prober.wait_for("api-1", {HealthState.UNHEALTHY}, timeout=10)
            assert status.last_failure is not None and status.last_failure.detail == "grpc NOT_SERVING"
            await servicer.set("api", SERVING)
            await prober.wait_for("api-1", {HealthState.HEALTHY}, timeout=10)
        return [(t.previous.value, t.current.value) for t in changes]

    assert run(scenario()) == [("starting", "healthy"), ("healthy", "unhealthy"), ("unhealthy", "healthy")]


def test_prober_notices_a_grpc_server_that_comes_up_late(run: Runner) -> None:
    async def scenario() -> tuple[str, HealthState]:
        port = free_port()
        async with Prober() as prober:
            spec = ProbeSpec("grpc", port=port, interval=0.05, timeout=2, retries=1)
            prober.register("api-1", spec)
            down = await prober.wait_for("api-1", {HealthState.UNHEALTHY}, timeout=5)
            assert down.last_failure is not None
            async with grpc_server(port):
                # A channel left in reconnect backoff would wait a second or more before trying again.
                up = await prober.wait_for("api-1", {HealthState.HEALTHY}, timeout=5)
            return down.last_failure.detail, up.state

    detail, state = run(scenario())
    assert detail.startswith("grpc UNAVAILABLE") and state is HealthState.HEALTHY
