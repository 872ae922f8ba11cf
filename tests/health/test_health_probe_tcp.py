"""The tcp probe against a real listener."""

from __future__ import annotations

from mooring.health import ProbeSpec, probe_once

from .health_testkit import Runner, free_port, tcp_listener


def test_an_open_port_is_healthy(run: Runner) -> None:
    async def probe() -> tuple[bool, str, int]:
        async with tcp_listener() as port:
            result = await probe_once(ProbeSpec("tcp", port=port))
            return result.ok, result.detail, port

    ok, detail, port = run(probe())
    assert (ok, detail) == (True, f"connected to 127.0.0.1:{port}")


def test_a_closed_port_is_connection_refused(run: Runner) -> None:
    port = free_port()
    result = run(probe_once(ProbeSpec("tcp", port=port)))
    assert (result.ok, result.detail) == (False, f"connection refused to 127.0.0.1:{port}")
