"""One asyncio scheduler that probes every registered instance and keeps its health state.

A due-time heap and a single loop task that sleeps until the earliest due probe (or until woken by
a registration), then launches the due probes as tasks under a concurrency bound. Nothing polls:
with no probe due, the prober costs no CPU.
"""

from __future__ import annotations

import asyncio
import heapq
import inspect
import itertools
import logging
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Coroutine
from typing import TYPE_CHECKING, Any

from .connections import ConnectionCache
from .http_probe import http_origin, new_http_clients
from .probes import ContainerExec, probe_once
from .result import ProbeResult, format_seconds
from .spec import ProbeSpec
from .state import HealthState, HealthStatus, InstanceHealth, Transition

if TYPE_CHECKING:
    import httpx

OnChange = Callable[[str, Transition], Awaitable[None] | None]

log = logging.getLogger(__name__)


# a probe that took this much longer than its timeout ran while the engine was frozen
FROZEN_SLACK = 2.0


class _Registration:
    """One registered check: its spec, its health and its place in the schedule."""

    def __init__(self, key: str, spec: ProbeSpec, on_change: OnChange | None) -> None:
        self.key = key
        self.spec = spec
        self.on_change = on_change
        self.health = InstanceHealth(
            retries=spec.retries, start_period=spec.start_period, registered_at=time.time()
        )
        self.due = math.inf  # monotonic time of the next probe; inf while one runs
        self.probing = False
        self.rerun = False  # probe_now() arrived while a probe ran: run again as soon as it ends
        self.changed = asyncio.Event()  # replaced on every probe result; wakes wait_for() / wait_until()


class Prober:
    """Probes every registered instance on its own interval from one asyncio task.

    The first probe of a registration runs at once, the next ``interval`` after each probe ends.
    Results of a registration that was replaced or removed while its probe ran are dropped.
    """

    def __init__(self, *, concurrency: int = 64, container_exec: ContainerExec | None = None) -> None:
        self._container_exec = container_exec
        self._registrations: dict[str, _Registration] = {}
        self._heap: list[tuple[float, int, _Registration]] = []
        self._order = itertools.count()  # breaks ties in the heap; registrations do not compare
        self._wake = asyncio.Event()
        self._limit = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._http: ConnectionCache[httpx.AsyncClient] = new_http_clients()
        self._grpc: ConnectionCache[Any] | None = None  # made with the first grpc check
        # How many registrations use each cached connection, so the last one to go closes it.
        self._connection_users: Counter[tuple[str, str]] = Counter()
        self._closed = False
        # Told of every current probe result (key, check kind, result): the engine's metrics.
        self.on_result: Callable[[str, str, ProbeResult], None] | None = None

    async def __aenter__(self) -> Prober:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Start probing (registrations made before this wait for it)."""
        assert not self._closed, "prober is closed"
        if self._loop_task is None:
            self._loop_task = asyncio.create_task(self._schedule_loop(), name="mooring-health-prober")

    async def close(self) -> None:
        """Stop probing: cancel running probes (killing exec checks), close connections, wake waiters."""
        if self._closed:
            return
        self._closed = True
        tasks = [*self._tasks, *([self._loop_task] if self._loop_task else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for registration in self._registrations.values():
            registration.changed.set()
        await self._http.close()
        if self._grpc is not None:
            await self._grpc.close()

    def register(self, key: str, spec: ProbeSpec, on_change: OnChange | None = None) -> None:
        """Probe ``spec`` for ``key`` from now on; replaces (and resets) an earlier registration."""
        assert not self._closed, "prober is closed"
        if spec.kind == "grpc" and self._grpc is None:
            from .grpc_probe import new_grpc_channels  # grpc is loaded only once a grpc check exists

            self._grpc = new_grpc_channels()
        previous = self._registrations.get(key)
        registration = _Registration(key, spec, on_change)
        self._registrations[key] = registration
        self._connection_users[_connection_key(spec)] += 1
        if previous is not None:
            self._retire(previous)
        self._schedule(registration, time.monotonic())

    def unregister(self, key: str) -> None:
        """Stop probing ``key``; unknown keys are ignored so removal can be retried safely."""
        registration = self._registrations.pop(key, None)
        if registration is not None:
            self._retire(registration)

    def probe_now(self, key: str) -> None:
        """Probe ``key`` at once (after a restart, say) instead of waiting out its interval."""
        registration = self._current(key)
        if registration.probing:
            registration.rerun = True
        else:
            self._schedule(registration, time.monotonic())

    def status(self, key: str) -> HealthStatus:
        """The health of ``key`` now; ``KeyError`` if it is not registered."""
        return self._current(key).health.status()

    def snapshot(self) -> dict[str, HealthStatus]:
        """The health of every registered instance."""
        return {key: reg.health.status() for key, reg in self._registrations.items()}

    def __contains__(self, key: object) -> bool:
        return key in self._registrations

    async def wait_for(self, key: str, states: Collection[HealthState], timeout: float) -> HealthStatus:
        """Wait until ``key`` is in one of ``states``; ``TimeoutError`` after ``timeout`` seconds.

        Raises ``KeyError`` if ``key`` is (or becomes) unregistered, ``RuntimeError`` if the prober
        closes. A re-registration keeps the wait going against the new registration.
        """
        try:
            async with asyncio.timeout(timeout):
                while True:
                    registration = self._current(key)
                    if registration.health.state in states:
                        return registration.health.status()
                    await registration.changed.wait()
        except TimeoutError:
            raise TimeoutError(self._timeout_message(key, states, timeout)) from None

    async def wait_until(
        self, key: str, accept: Callable[[HealthStatus], bool], timeout: float
    ) -> HealthStatus:
        """Wait until ``accept(status)`` holds, checked after every probe result; ``TimeoutError``
        after ``timeout`` seconds; ``KeyError`` if ``key`` is (or becomes) unregistered."""
        async with asyncio.timeout(timeout):
            while True:
                registration = self._current(key)
                status = registration.health.status()
                if accept(status):
                    return status
                await registration.changed.wait()

    def _current(self, key: str) -> _Registration:
        if self._closed:
            raise RuntimeError("health prober is closed")
        try:
            return self._registrations[key]
        except KeyError:
            raise KeyError(key) from None

    def _timeout_message(self, key: str, states: Collection[HealthState], timeout: float) -> str:
        wanted = " or ".join(sorted(states))
        message = f"{key} not {wanted} within {format_seconds(timeout)}"
        registration = self._registrations.get(key)
        if registration is None:
            return message
        status = registration.health.status()
        message += f": {status.state}"
        if status.last_result is not None:
            message += f", last probe: {status.last_result.detail}"
        return message

    def _schedule(self, registration: _Registration, due: float) -> None:
        registration.due = due
        heapq.heappush(self._heap, (due, next(self._order), registration))
        if self._heap[0][2] is registration:
            self._wake.set()

    def _retire(self, registration: _Registration) -> None:
        """Forget a replaced or removed registration: wake its waiters, close a connection now unused."""
        registration.changed.set()
        key = _connection_key(registration.spec)
        self._connection_users[key] -= 1
        if self._connection_users[key] > 0:
            return
        del self._connection_users[key]
        kind, target = key
        if kind == "http":
            self._http.discard(target)
        elif kind == "grpc" and self._grpc is not None:
            self._grpc.discard(target)

    def _spawn(self, coroutine: Coroutine[object, object, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _schedule_loop(self) -> None:
        """Launch every due probe, then sleep until the next one is due or the schedule changes."""
        while True:
            # Only other tasks push to the heap, and none runs before the await below, so clearing
            # here cannot lose a wake-up.
            self._wake.clear()
            now = time.monotonic()
            while self._heap and self._heap[0][0] <= now:
                due, _, registration = heapq.heappop(self._heap)
                if self._is_current(registration) and not registration.probing and registration.due == due:
                    registration.probing = True
                    registration.due = math.inf
                    self._spawn(self._probe(registration))
            if not self._heap:
                await self._wake.wait()
                continue
            try:
                async with asyncio.timeout(self._heap[0][0] - now):
                    await self._wake.wait()
            except TimeoutError:
                pass

    def _is_current(self, registration: _Registration) -> bool:
        return self._registrations.get(registration.key) is registration

    async def probe_fresh(self, key: str) -> HealthStatus:
        """Probe ``key`` once now, take the result in, and return the health after it.

        Before a deadline fails an instance: the last result may be older than a freeze of the engine.
        """
        registration = self._current(key)
        result = await self._run_probe(registration)
        if self._is_current(registration):
            await self._observe(registration, result)
        return registration.health.status()

    async def _run_probe(self, registration: _Registration) -> ProbeResult:
        async with self._limit:
            spec = registration.spec
            client = self._http.get(http_origin(spec)) if spec.kind == "http" else None
            return await probe_once(
                spec, http_client=client, grpc_channels=self._grpc, container_exec=self._container_exec
            )

    async def _probe(self, registration: _Registration) -> None:
        """Run one probe, feed its result to the state machine, announce a change, schedule the next."""
        began = time.monotonic()
        result = await self._run_probe(registration)
        if not self._is_current(registration):
            return  # replaced or removed while probing: this result describes nothing current
        frozen = time.monotonic() - began > registration.spec.timeout + FROZEN_SLACK
        if frozen and not result.ok:
            # the probe outlived its own timeout by far: the engine was frozen (SIGSTOP, VM pause),
            # not the instance slow. The failure says nothing of the instance: probe again at once.
            log.info("%s: probe result discarded, the engine was frozen while it ran", registration.key)
            registration.rerun = True
        else:
            if self.on_result is not None:
                try:
                    self.on_result(registration.key, registration.spec.kind, result)
                except Exception:  # an observer's bug must not stop probing
                    log.exception("probe result observer failed for %s", registration.key)
            await self._observe(registration, result)
        registration.probing = False
        if self._is_current(registration):
            rerun, registration.rerun = registration.rerun, False
            delay = 0.0 if rerun else registration.spec.interval
            self._schedule(registration, time.monotonic() + delay)

    async def _observe(self, registration: _Registration, result: ProbeResult) -> None:
        """Feed one result to the state machine; wake waiters and announce a change."""
        transition = registration.health.observe(result, time.time())
        # every result wakes the waiters, not only a transition: a gate waits on what the probe saw
        registration.changed, woken = asyncio.Event(), registration.changed
        woken.set()
        if transition is not None:
            log.debug(
                "%s: %s -> %s (%s)",
                registration.key,
                transition.previous,
                transition.current,
                transition.reason,
            )
            await self._announce(registration, transition)

    async def _announce(self, registration: _Registration, transition: Transition) -> None:
        """Call the registration's ``on_change``; a failing callback is logged, never fatal."""
        if registration.on_change is None:
            return
        try:
            outcome = registration.on_change(registration.key, transition)
            if inspect.isawaitable(outcome):
                await outcome
        except Exception:
            log.exception("%s: health on_change callback failed", registration.key)


def _connection_key(spec: ProbeSpec) -> tuple[str, str]:
    """Which cached connection a check uses: ``(kind, target)``; exec and tcp checks keep none."""
    if spec.kind == "http":
        return ("http", http_origin(spec))
    if spec.kind == "grpc":
        return ("grpc", spec.address)
    return (spec.kind, "")
