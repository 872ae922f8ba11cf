"""The Prober: scheduling, state changes, waits and registrations, against real servers and processes."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mooring.health import HealthState, HealthStatus, ProbeKind, Prober, ProbeSpec, Transition

from .health_testkit import (
    HealthApp,
    Runner,
    free_port,
    gone_or_zombie,
    http_responders,
    tcp_listener,
    wait_until,
)

STARTING, HEALTHY, UNHEALTHY = HealthState.STARTING, HealthState.HEALTHY, HealthState.UNHEALTHY


def fast(kind: ProbeKind, **fields: Any) -> ProbeSpec:
    """A spec probed every 50 ms, so state changes show up quickly."""
    return ProbeSpec(kind, **{"interval": 0.05, "timeout": 2.0, **fields})


def recorder() -> tuple[list[Transition], Callable[[str, Transition], None]]:
    changes: list[Transition] = []
    return changes, lambda _key, transition: changes.append(transition)


def moves(changes: list[Transition]) -> list[tuple[str, str]]:
    return [(t.previous.value, t.current.value) for t in changes]


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait for an outside condition (a file appearing) without blocking the event loop."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


def test_http_check_follows_the_server_through_every_state(run: Runner, http_app: HealthApp) -> None:
    async def scenario() -> list[Transition]:
        changes, on_change = recorder()
        async with Prober() as prober:
            prober.register("web-1", fast("http", port=http_app.port, retries=2), on_change)
            assert prober.status("web-1").state is STARTING
            await prober.wait_for("web-1", {HEALTHY}, timeout=5)
            http_app.status = 503
            down = await prober.wait_for("web-1", {UNHEALTHY}, timeout=5)
            assert down.consecutive_failures == 2
            assert down.last_failure is not None and down.last_failure.status_code == 503
            http_app.status = 200
            up = await prober.wait_for("web-1", {HEALTHY}, timeout=5)
            assert up.last_result is not None and up.last_result.detail == "HTTP 200"
            assert up.last_failure is not None and up.last_failure.detail == "HTTP 503: ok"
        return changes

    changes = run(scenario())
    assert moves(changes) == [("starting", "healthy"), ("healthy", "unhealthy"), ("unhealthy", "healthy")]
    assert changes[1].reason == "2 consecutive failures, last: HTTP 503: ok"
    assert len({port for _, port in http_app.requests}) == 1  # one keep-alive connection throughout


def test_tcp_check_follows_the_listener(run: Runner) -> None:
    async def scenario() -> list[Transition]:
        changes, on_change = recorder()
        async with Prober() as prober:
            async with tcp_listener() as port:
                prober.register("db-1", fast("tcp", port=port, retries=1), on_change)
                await prober.wait_for("db-1", {HEALTHY}, timeout=5)
            down = await prober.wait_for("db-1", {UNHEALTHY}, timeout=5)
            assert down.last_failure is not None
            assert down.last_failure.detail == f"connection refused to 127.0.0.1:{port}"
            async with tcp_listener(port):
                await prober.wait_for("db-1", {HEALTHY}, timeout=5)
        return changes

    assert moves(run(scenario())) == [
        ("starting", "healthy"),
        ("healthy", "unhealthy"),
        ("unhealthy", "healthy"),
    ]


def test_failures_inside_the_start_period_do_not_count(run: Runner) -> None:
    async def scenario() -> tuple[float, Transition, HealthStatus]:
        changes, on_change = recorder()
        spec = fast("exec", command=("false",), retries=1, start_period=0.4)
        async with Prober() as prober:
            registered = time.time()
            prober.register("job-1", spec, on_change)
            status = await prober.wait_for("job-1", {UNHEALTHY}, timeout=5)
        return registered, changes[0], status

    registered, change, status = run(scenario())
    assert change.at - registered >= 0.4
    assert status.probes_run > 1  # the earlier failures were seen, and not counted
    assert status.consecutive_failures == 1


def test_first_probe_runs_at_registration_and_probe_now_runs_at_once(run: Runner) -> None:
    async def scenario() -> list[tuple[str, str]]:
        changes, on_change = recorder()
        async with Prober() as prober:
            async with tcp_listener() as port:
                # An interval far longer than the test: only the immediate probes can decide it.
                prober.register("db-1", ProbeSpec("tcp", port=port, retries=1, interval=3600), on_change)
                await prober.wait_for("db-1", {HEALTHY}, timeout=5)
            prober.probe_now("db-1")
            await prober.wait_for("db-1", {UNHEALTHY}, timeout=5)
            assert prober.status("db-1").probes_run == 2
        return moves(changes)

    assert run(scenario()) == [("starting", "healthy"), ("healthy", "unhealthy")]


def test_a_replaced_registration_starts_over_and_its_late_result_is_dropped(
    run: Runner, http_app: HealthApp
) -> None:
    async def scenario() -> tuple[list[Transition], HealthStatus]:
        old_changes, old_on_change = recorder()
        http_app.hang, http_app.status = True, 503
        # One probe at a time: the new registration's probe waits until the old one has finished.
        async with tcp_listener() as port, Prober(concurrency=1) as prober:
            prober.register("web-1", fast("http", port=http_app.port, retries=1), old_on_change)
            await until(lambda: len(http_app.requests) == 1)  # the old probe is in flight
            prober.register("web-1", fast("tcp", port=port))
            assert prober.status("web-1").probes_run == 0
            http_app.release.set()  # the old probe now fails
            status = await prober.wait_for("web-1", {HEALTHY}, timeout=5)
        return old_changes, status

    old_changes, status = run(scenario())
    assert old_changes == []
    assert status.probes_run == 1 and status.last_failure is None


def test_an_unregistered_check_is_forgotten_even_mid_probe(run: Runner, http_app: HealthApp) -> None:
    async def scenario() -> list[Transition]:
        changes, on_change = recorder()
        http_app.hang, http_app.status = True, 503
        async with tcp_listener() as port, Prober(concurrency=1) as prober:
            prober.register("web-1", fast("http", port=http_app.port, retries=1), on_change)
            await until(lambda: len(http_app.requests) == 1)
            prober.register("db-1", fast("tcp", port=port))
            prober.unregister("web-1")
            prober.unregister("web-1")  # idempotent
            http_app.release.set()
            await prober.wait_for("db-1", {HEALTHY}, timeout=5)  # runs only after web-1's probe ended
            assert "web-1" not in prober and set(prober.snapshot()) == {"db-1"}
            with pytest.raises(KeyError):
                prober.status("web-1")
        return changes

    assert run(scenario()) == []


def test_wait_for_returns_at_once_when_already_there_and_explains_a_timeout(run: Runner) -> None:
    port = free_port()

    async def scenario() -> str:
        async with Prober() as prober:
            prober.register("web-1", fast("tcp", port=port))
            assert (await prober.wait_for("web-1", {STARTING}, timeout=0)).state is STARTING
            with pytest.raises(TimeoutError) as caught:
                await prober.wait_for("web-1", {HEALTHY}, timeout=0.3)
            with pytest.raises(KeyError):
                await prober.wait_for("nope", {HEALTHY}, timeout=1)
            return str(caught.value)

    message = run(scenario())
    assert message.startswith("web-1 not healthy within 300ms: ")
    assert f"last probe: connection refused to 127.0.0.1:{port}" in message


def test_wait_for_ends_when_the_check_goes_away_or_the_prober_closes(run: Runner) -> None:
    port = free_port()

    async def scenario() -> None:
        prober = Prober()
        await prober.start()
        prober.register("a", fast("tcp", port=port))
        prober.register("b", fast("tcp", port=port))
        waiting_a = asyncio.create_task(prober.wait_for("a", {HEALTHY}, timeout=10))
        waiting_b = asyncio.create_task(prober.wait_for("b", {HEALTHY}, timeout=10))
        await asyncio.sleep(0)  # let both waits start
        prober.unregister("a")
        with pytest.raises(KeyError):
            await waiting_a
        await prober.close()
        with pytest.raises(RuntimeError, match="closed"):
            await waiting_b

    run(scenario())


def test_async_callbacks_are_awaited_and_a_failing_callback_does_not_stop_probing(run: Runner) -> None:
    async def scenario() -> list[str]:
        seen: list[str] = []

        async def async_callback(key: str, transition: Transition) -> None:
            await asyncio.sleep(0)
            seen.append(f"{key}:{transition.current}")

        def broken_callback(key: str, transition: Transition) -> None:
            raise RuntimeError("callback bug")

        async with Prober() as prober:
            async with tcp_listener() as port:
                prober.register("a", fast("tcp", port=port), async_callback)
                prober.register("b", fast("tcp", port=port, retries=1), broken_callback)
                await prober.wait_for("a", {HEALTHY}, timeout=5)
                await prober.wait_for("b", {HEALTHY}, timeout=5)
            # b's callback raised on its first change, and b is still probed: it notices the listener went.
            await prober.wait_for("b", {UNHEALTHY}, timeout=5)
            await until(lambda: len(seen) == 1)
        return seen

    assert run(scenario()) == ["a:healthy"]


def test_close_kills_exec_checks_in_flight(run: Runner, tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"

    async def scenario() -> int:
        prober = Prober()
        await prober.start()
        command = ("sh", "-c", f"sleep 30 & echo $! > {pidfile}; wait")
        prober.register("job-1", ProbeSpec("exec", command=command, timeout=30))
        await until(lambda: pidfile.exists() and pidfile.read_text().strip() != "")
        await prober.close()
        return int(pidfile.read_text())

    child = run(scenario())
    wait_until(lambda: gone_or_zombie(child))


def test_many_instances_share_one_task_and_no_threads(run: Runner) -> None:
    async def scenario() -> tuple[set[threading.Thread], dict[str, HealthStatus]]:
        # Compared as sets: a thread left over from an earlier test may end meanwhile.
        threads_before = set(threading.enumerate())
        async with tcp_listener() as port, Prober() as prober:
            keys = [f"web-{i}" for i in range(200)]
            for key in keys:
                prober.register(key, ProbeSpec("tcp", port=port, interval=0.2, timeout=5))
            await asyncio.gather(*(prober.wait_for(key, {HEALTHY}, timeout=10) for key in keys))
            new_threads = set(threading.enumerate()) - threads_before
            snapshot = prober.snapshot()
        return new_threads, snapshot

    new_threads, snapshot = run(scenario())
    assert new_threads == set()
    assert len(snapshot) == 200 and {s.state for s in snapshot.values()} == {HEALTHY}


def test_http_checks_on_many_origins_stay_cheap(run: Runner) -> None:
    # One httpx pool holding a connection per instance costs time quadratic in the instance count
    # on every request (~15 ms of CPU per probe at 200 instances); a pool per origin stays ~1 ms.
    async def scenario() -> tuple[float, int, set[threading.Thread]]:
        threads_before = set(threading.enumerate())
        async with http_responders(200) as ports, Prober() as prober:
            keys = [f"web-{port}" for port in ports]
            for key, port in zip(keys, ports, strict=True):
                prober.register(key, ProbeSpec("http", port=port, interval=0.1, timeout=5))
            await asyncio.gather(*(prober.wait_for(key, {HEALTHY}, timeout=10) for key in keys))
            probes_before = sum(s.probes_run for s in prober.snapshot().values())
            cpu_before = time.process_time()
            await asyncio.sleep(1.0)  # a window of steady probing to measure
            cpu = time.process_time() - cpu_before
            probes = sum(s.probes_run for s in prober.snapshot().values()) - probes_before
            new_threads = set(threading.enumerate()) - threads_before
        return cpu, probes, new_threads

    cpu, probes, new_threads = run(scenario())
    assert new_threads == set()
    assert probes >= 200
    assert cpu / probes < 0.005, f"{cpu / probes * 1000:.1f} ms of CPU per probe"


def test_an_idle_prober_uses_no_cpu(run: Runner) -> None:
    async def scenario() -> float:
        async with tcp_listener() as port, Prober() as prober:
            for i in range(50):
                prober.register(f"web-{i}", ProbeSpec("tcp", port=port, interval=3600))
            await asyncio.gather(*(prober.wait_for(f"web-{i}", {HEALTHY}, timeout=10) for i in range(50)))
            cpu_before = time.process_time()
            await asyncio.sleep(0.5)  # an idle window to measure, not a wait for a condition
            return time.process_time() - cpu_before

    assert run(scenario()) < 0.05
