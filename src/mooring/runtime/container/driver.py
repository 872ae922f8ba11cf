"""The container driver: the process Supervisor's interface, over a Docker-compatible engine.

Restarts are mooring's, not Docker's: containers are created with restart policy ``no`` and the
driver applies the same policy as the process driver (``restart``, ``max_restarts``, exponential
backoff from :mod:`mooring.runtime.policy`) when the engine reports a ``die`` event. One place
decides restarts, so ``ps``, the record and the release gate never disagree with the engine, and
the give-up limit means the same for both kinds of instance.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import logging
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Coroutine
from typing import Any, TypeVar

import docker

from mooring.health.result import Outcome, one_line
from mooring.runtime.errors import InstanceBusy, UnknownInstance
from mooring.runtime.facts import InstanceFacts
from mooring.runtime.policy import BackoffPolicy, decide_after_run
from mooring.runtime.record import InstanceRecord, exit_fields
from mooring.runtime.states import RESTING_STATES, ExitReason, ExitStatus, InstanceState, is_legal
from mooring.runtime.waiters import RecordWaiters

from . import engine_api
from .address import EngineAddress
from .errors import ContainerEngineUnreachable, ImagePullFailed
from .events import EventWatcher
from .facts import FactsCache
from .logs import ContainerLogs
from .spec import LABEL_APP, LABEL_HOME, LABEL_INSTANCE, LABEL_SERVICE, ContainerSpec

log = logging.getLogger("mooring.runtime.container")
S = InstanceState
T = TypeVar("T")
OnChange = Callable[[InstanceRecord], Awaitable[None] | None]
FAILURE_LOG_LINES = 20


class ContainerDriver:
    """Owns the container instances of one engine; the engine is reached lazily, on first use."""

    name = "container"  # the Driver protocol (runtime/driver.py)

    def __init__(
        self,
        address: EngineAddress,
        *,
        home_label: str,
        on_change: OnChange | None = None,
        backoff: BackoffPolicy | None = None,
    ) -> None:
        self.address = address
        self.home_label = home_label  # marks this engine's containers among others on one dockerd
        self.backoff = backoff or BackoffPolicy()
        self._engine_on_change = on_change
        self._client: docker.APIClient | None = None
        self._connecting: asyncio.Lock | None = None
        self._watcher: EventWatcher | None = None
        self._records: dict[str, InstanceRecord] = {}
        self._specs: dict[str, ContainerSpec] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._stopping: set[str] = set()
        self._oom: set[str] = set()  # container ids the engine reported out of memory
        self._restarts: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._waiters = RecordWaiters("container instance")
        self._pulls: dict[str, asyncio.Task[None]] = {}
        self.facts_cache = FactsCache(self._call, self._spawn)
        self.logs = ContainerLogs(self._call, self._records, self.client)

    # --- engine connection ----------------------------------------------------------------

    async def client(self) -> docker.APIClient:
        """The connected client; the first call pings the engine and starts watching its events."""
        if self._client is not None:
            return self._client
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._client is None:
                client = await asyncio.to_thread(engine_api.connect, self.address)
                self._watcher = EventWatcher(client, asyncio.get_running_loop(), self._on_event)
                self._watcher.start()
                self._client = client
        return self._client

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        client = await self.client()
        return await asyncio.to_thread(fn, client, *args, **kwargs)

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- records and waiting --------------------------------------------------------------

    def _lock(self, instance_id: str) -> asyncio.Lock:
        return self._locks.setdefault(instance_id, asyncio.Lock())

    def record(self, instance_id: str) -> InstanceRecord:
        try:
            return self._records[instance_id]
        except KeyError:
            raise UnknownInstance(
                f"no container instance {instance_id!r} is supervised here",
                hint="`mooring ps` lists the instances the engine knows",
            ) from None

    def records(self) -> list[InstanceRecord]:
        return list(self._records.values())

    def __contains__(self, instance_id: object) -> bool:
        return instance_id in self._records

    async def _set(
        self, instance_id: str, state: InstanceState | None = None, **changes: Any
    ) -> InstanceRecord:
        """The one place a record changes: checks the move is legal, journals it, wakes waiters."""
        current = self._records[instance_id]
        if state is not None and state is not current.state:
            if not is_legal(current.state, state):
                raise AssertionError(f"instance {instance_id}: illegal move {current.state} -> {state}")
            changes.update(state=state, state_since=time.time())
        record = dataclasses.replace(current, **changes)
        self._records[instance_id] = record
        try:
            if self._engine_on_change is not None:
                result = self._engine_on_change(record)
                if inspect.isawaitable(result):
                    await result
        finally:
            self._waiters.wake(instance_id)
        return record

    async def wait_for(
        self,
        instance_id: str,
        predicate: Callable[[InstanceRecord], bool] | Collection[InstanceState],
        timeout: float,
    ) -> InstanceRecord:
        """Wait (on record changes, not polling) until the record matches; ``TimeoutError`` if not."""
        return await self._waiters.wait_for(instance_id, self.record, predicate, timeout)

    # --- images ---------------------------------------------------------------------------

    async def has_image(self, image: str) -> bool:
        return await self._call(engine_api.image_present, image)

    async def image_id(self, image: str) -> str | None:
        return await self._call(engine_api.image_id, image)

    async def ensure_image(self, image: str) -> None:
        """Pull ``image`` unless the engine has it; concurrent callers share one pull."""
        if await self._call(engine_api.image_present, image):
            return
        pull = self._pulls.get(image)
        if pull is None or pull.done():
            pull = self._pulls[image] = self._spawn(self._call(engine_api.pull, image))
        await asyncio.shield(pull)

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self, spec: ContainerSpec) -> InstanceRecord:
        """Create and start the container; a failure is a ``failed`` record, not an exception."""
        instance_id = spec.instance_id
        async with self._lock(instance_id):
            current = self._records.get(instance_id)
            if current is not None and current.state not in RESTING_STATES:
                raise InstanceBusy(f"container instance {instance_id} is {current.state}; stop it first")
            if current is None:
                self._records[instance_id] = InstanceRecord(
                    instance_id, spec.to_dict(), S.STOPPED, time.time(), "", "", ""
                )
            self._specs[instance_id] = spec
            await self._set(
                instance_id, S.STARTING, spec=spec.to_dict(), restart_streak=0, consecutive_failures=0
            )
            return await self._run(instance_id, create=True)

    async def _run(self, instance_id: str, *, create: bool) -> InstanceRecord:
        """STARTING -> RUNNING, or FAILED with why (held under the instance's lock)."""
        spec = self._specs[instance_id]
        try:
            if spec.image_id is None:
                await self.ensure_image(spec.image)
            elif not await self.has_image(spec.image_id):  # an id cannot be pulled: say where it went
                raise ImagePullFailed(
                    f"image {spec.image!r} as release {spec.release_id} pinned it ({spec.image_id}) is no "
                    "longer on this host (removed or pruned)",
                    hint="`docker load` it again, or `mooring up` to pin what the tag names now",
                )
            container_id = self._records[instance_id].container_id
            if create or container_id is None:
                container_id = await self._call(engine_api.create, spec, self.home_label)
                await self._set(instance_id, container_id=container_id)
            begun = time.time()  # before the start: a die event of this run is never older
            await self._call(engine_api.start, container_id)
        except (ImagePullFailed, ContainerEngineUnreachable) as exc:
            return await self._start_failed(instance_id, exc.message)
        except docker.errors.DockerException as exc:
            detail = getattr(exc, "explanation", None) or str(exc)
            return await self._start_failed(instance_id, f"the container engine refused: {detail}")
        return await self._set(instance_id, S.RUNNING, started_at=begun, restart_at=None)

    async def _start_failed(self, instance_id: str, detail: str) -> InstanceRecord:
        status = ExitStatus(ExitReason.START_FAILED, detail=detail)
        return await self._set(instance_id, S.FAILED, **exit_fields(status))

    def _on_event(self, event: dict[str, Any]) -> None:
        """A ``die``/``oom`` event, on the loop: schedule the after-run decision for our container."""
        action = event.get("Action") or event.get("status")
        actor = event.get("Actor") or {}
        attributes = actor.get("Attributes") or {}
        container_id = str(actor.get("ID") or event.get("id") or "")
        if action == "oom":
            self._oom.add(container_id)
            return
        instance_id = attributes.get(LABEL_INSTANCE)
        record = self._records.get(instance_id) if instance_id else None
        if record is None or record.container_id != container_id:
            return
        when = float(event.get("timeNano", 0)) / 1e9 or float(event.get("time", 0))
        if record.started_at is not None and when and when < record.started_at - 1.0:
            return  # replayed after a reconnect: an older run's end
        code = int(attributes.get("exitCode", -1))
        self._spawn(self._ended(str(instance_id), container_id, code))

    async def _ended(self, instance_id: str, container_id: str, code: int) -> None:
        async with self._lock(instance_id):
            record = self._records.get(instance_id)
            if (
                record is None
                or record.container_id != container_id
                or record.state is not S.RUNNING
                or instance_id in self._stopping
            ):
                return
            status = exit_status(code, oomed=container_id in self._oom)
            ran_for = time.time() - record.started_at if record.started_at else None
            await self._after_run(instance_id, status, ran_for, await self._last_lines(container_id))

    async def _after_run(
        self, instance_id: str, status: ExitStatus, ran_for: float | None, lines: list[str]
    ) -> None:
        spec, record = self._specs[instance_id], self._records[instance_id]
        after = decide_after_run(
            policy=spec.restart,
            max_restarts=spec.max_restarts,
            exit_status=status,
            ran_for=ran_for,
            restart_streak=record.restart_streak,
            consecutive_failures=record.consecutive_failures,
            backoff=self.backoff,
        )
        await self._set(
            instance_id,
            after.next_state,
            restart_streak=after.restart_streak,
            consecutive_failures=after.consecutive_failures,
            restart_at=time.time() + after.delay if after.delay is not None else None,
            last_log_lines=lines,
            **exit_fields(status),
        )
        if after.delay is not None:
            self._restarts[instance_id] = self._spawn(self._restart_after(instance_id, after.delay))

    async def _restart_after(self, instance_id: str, delay: float) -> None:
        await asyncio.sleep(delay)
        async with self._lock(instance_id):
            record = self._records.get(instance_id)
            if record is None or record.state is not S.BACKOFF:
                return
            await self._set(instance_id, S.STARTING, restarts=record.restarts + 1)
            await self._run(instance_id, create=record.container_id is None)
        self._restarts.pop(instance_id, None)

    async def _last_lines(self, container_id: str) -> list[str]:
        try:
            return await self.logs.tail_of_container(container_id, FAILURE_LOG_LINES)
        except Exception:  # the logs are a courtesy in the failure message, never a reason to fail
            return []

    async def stop(self, instance_id: str) -> InstanceRecord:
        """Stop signal, SIGKILL after ``stop_timeout``, then remove the container (volumes stay)."""
        self.record(instance_id)
        restart = self._restarts.pop(instance_id, None)
        if restart is not None:
            restart.cancel()
        self._stopping.add(instance_id)
        try:
            async with self._lock(instance_id):
                record = self._records[instance_id]
                spec = self._specs[instance_id]
                if record.state is S.RUNNING:
                    await self._set(instance_id, S.STOPPING)
                container_id = record.container_id
                state = None
                if container_id is not None:
                    await self._call(engine_api.stop, container_id, spec.stop_timeout)
                    state = await self._call(engine_api.inspect, container_id)
                    await self._call(engine_api.remove, container_id)
                if record.state is S.RUNNING or self._records[instance_id].state is S.STOPPING:
                    status = ExitStatus(
                        ExitReason.STOPPED,
                        code=state.exit_code if state else None,
                        detail=f"{signal.Signals(spec.stop_signal).name}, SIGKILL after {spec.stop_timeout:g}s",
                    )
                    return await self._set(instance_id, S.STOPPED, container_id=None, **exit_fields(status))
                if record.state is S.STOPPED:
                    return await self._set(instance_id, container_id=None)
                return await self._set(instance_id, S.STOPPED, container_id=None, restart_at=None)
        finally:
            self._stopping.discard(instance_id)

    async def stop_all(self, instance_ids: Collection[str] | None = None) -> list[InstanceRecord]:
        ids = list(self._records) if instance_ids is None else list(instance_ids)
        return list(await asyncio.gather(*(self.stop(i) for i in ids)))

    async def forget(self, instance_id: str, *, delete_logs: bool = False) -> None:
        """Drop a resting instance; its container (and so its engine-side logs) goes with it."""
        record = self.record(instance_id)
        if record.state not in RESTING_STATES:
            raise InstanceBusy(
                f"container instance {instance_id} is {record.state}; stop it before forgetting it"
            )
        if record.container_id is not None:
            await self._call(engine_api.remove, record.container_id)
        self._records.pop(instance_id, None)
        self._specs.pop(instance_id, None)
        self._locks.pop(instance_id, None)
        self.facts_cache.forget(instance_id)

    # --- adoption and shutdown ------------------------------------------------------------

    async def adopt(self, record: InstanceRecord) -> InstanceRecord:
        """Take over a container recorded by an earlier engine, found by its ``mooring.instance`` label."""
        instance_id = record.instance_id
        if instance_id in self._records:
            raise InstanceBusy(f"container instance {instance_id} is already supervised here")
        spec = ContainerSpec.from_dict(record.spec)
        self._records[instance_id], self._specs[instance_id] = record, spec
        found = await self._call(engine_api.find_instance, instance_id, self.home_label)
        async with self._lock(instance_id):
            if found is not None and record.container_id != found.container_id:
                record = await self._set(instance_id, container_id=found.container_id)
            if record.state in RESTING_STATES:
                return record
            if found is not None and found.running:
                if record.state is S.STOPPING:
                    return await self._finish_stop_while_away(instance_id, found.container_id)
                if record.state is S.BACKOFF:
                    await self._set(instance_id, S.STARTING)
                if self._records[instance_id].state is S.STARTING:
                    await self._set(instance_id, S.RUNNING)
                return await self._set(instance_id, started_at=found.started_at)
            if record.state is S.STOPPING:
                return await self._finish_stop_while_away(instance_id, found.container_id if found else None)
            if record.state is S.BACKOFF:
                delay = max(0.0, (record.restart_at or 0.0) - time.time())
                self._restarts[instance_id] = self._spawn(self._restart_after(instance_id, delay))
                return record
            if found is None:
                status = ExitStatus(ExitReason.DIED_WHILE_AWAY, detail="its container is gone")
                if record.state is S.STARTING:
                    return await self._set(instance_id, S.EXITED, container_id=None, **exit_fields(status))
                await self._set(instance_id, container_id=None)
                await self._after_run(instance_id, status, None, [])
                return self._records[instance_id]
            if record.state is S.STARTING:
                return await self._run(instance_id, create=False)
            # It ended while no engine watched; unlike a host process, the engine kept its exit code.
            status = exit_status(
                found.exit_code if found.exit_code is not None else -1, oomed=found.oom_killed
            )
            lines = await self._last_lines(found.container_id)
            await self._after_run(instance_id, status, None, lines)
            return self._records[instance_id]

    async def _finish_stop_while_away(self, instance_id: str, container_id: str | None) -> InstanceRecord:
        if container_id is not None:
            await self._call(engine_api.stop, container_id, self._specs[instance_id].stop_timeout)
            await self._call(engine_api.remove, container_id)
        status = ExitStatus(ExitReason.STOPPED, detail="stop finished after an engine restart")
        return await self._set(instance_id, S.STOPPED, container_id=None, **exit_fields(status))

    async def orphans(self, known: Collection[str]) -> list[str]:
        """Containers of this engine (by label) that no record knows: left by a crash between create and journal."""
        rows = await self._call(engine_api.labelled, f"{LABEL_HOME}={self.home_label}")
        return [str(row["Id"]) for row in rows if (row.get("Labels") or {}).get(LABEL_INSTANCE) not in known]

    async def running_of_app(self, app: str) -> list[tuple[str, str, str]]:
        """``(instance id, service, container id)`` of every running container of ``app`` of this engine."""
        rows = await self._call(engine_api.labelled, f"{LABEL_HOME}={self.home_label}")
        found = []
        for row in rows:
            labels = row.get("Labels") or {}
            if labels.get(LABEL_APP) == app and row.get("State") == "running":
                found.append(
                    (labels.get(LABEL_INSTANCE, "?"), labels.get(LABEL_SERVICE, "?"), str(row["Id"]))
                )
        return found

    async def remove_container(self, container_id: str) -> None:
        await self._call(engine_api.remove, container_id)

    async def detach_all(self) -> None:
        """Stop watching and leave every container running (engine shutdown)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._watcher is not None:
            self._watcher.close()
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
        self._records.clear()
        self._specs.clear()

    # --- facts and health -----------------------------------------------------------------

    def facts(self, instance_id: str) -> InstanceFacts:
        return self.facts_cache.facts(self.record(instance_id))

    async def read_log_tail(self, instance_id: str, n: int) -> list[str]:
        return await self.logs.read_tail(instance_id, n)

    async def read_log_since(self, instance_id: str, since: float) -> list[str]:
        return await self.logs.read_since(instance_id, since)

    async def follow_log(self, instance_id: str, since: float | None) -> AsyncIterator[str]:
        # the engine's log API has no "since, then follow" in one stream: the lines since, then new ones
        if since is not None:
            for line in await self.logs.read_since(instance_id, since):
                yield line
        async for line in self.logs.follow(instance_id):
            yield line

    async def exec_in(self, container: str, command: list[str]) -> tuple[int | None, bytes]:
        """Run a command inside a running container (exec health checks)."""
        return await self._call(engine_api.exec_run, container, command)


def exit_status(code: int, *, oomed: bool) -> ExitStatus:
    """The exit of a container run; with ``init``, a signal N shows as exit code 128+N."""
    if code == 0:
        return ExitStatus(ExitReason.CLEAN_EXIT, 0)
    if oomed:
        return ExitStatus(ExitReason.OOM_KILLED, code, signal.SIGKILL)
    if code > 128 and code - 128 in signal.valid_signals():
        return ExitStatus(ExitReason.KILLED, code, code - 128)
    return ExitStatus(ExitReason.CRASHED, code)


async def run_check(driver: ContainerDriver, container: str, command: tuple[str, ...]) -> Outcome:
    """An exec health check inside ``container``; exit 0 is healthy, like a host exec check."""
    try:
        code, output = await driver.exec_in(container, list(command))
    except docker.errors.DockerException as exc:
        detail = getattr(exc, "explanation", None) or str(exc)
        return Outcome(False, f"cannot exec in container {container}: {detail}")
    tail = one_line(output, tail=True)
    status = f"exit {code}"
    return Outcome(code == 0, f"{status}: {tail}" if tail and code != 0 else status, exit_code=code)
