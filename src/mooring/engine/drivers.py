"""One entry to instances of both kinds: host processes (Supervisor) and containers (ContainerDriver).

It has the interface the engine always used of the process Supervisor (start, stop, adopt,
wait_for, record, facts, forget, detach_all, logs) and dispatches by the instance's driver. The
container driver is made on first use, so a host without a container engine runs process apps
exactly as before.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable, Collection
from datetime import datetime
from pathlib import Path
from typing import Any

from mooring.health.result import Outcome
from mooring.runtime import Supervisor
from mooring.runtime.container import ContainerDriver, ContainerSpec, resolve_address, run_check
from mooring.runtime.facts import InstanceFacts
from mooring.runtime.instance import OnChange
from mooring.runtime.log_reader import interleave, timestamp_of
from mooring.runtime.record import InstanceRecord
from mooring.runtime.spec import InstanceSpec
from mooring.runtime.states import InstanceState

Driver = Supervisor | ContainerDriver


class Drivers:
    """Dispatches each call to the driver that runs the instance."""

    def __init__(self, home: Path, on_change: OnChange) -> None:
        self.home = home
        self._on_change = on_change
        self.process = Supervisor(home / "logs", on_change=on_change)
        self._container: ContainerDriver | None = None
        self.logs = InstanceLogs(self)

    @property
    def container(self) -> ContainerDriver:
        """The container driver; resolving the engine's address may raise for a broken engine.toml."""
        if self._container is None:
            self._container = ContainerDriver(
                resolve_address(self.home), home_label=str(self.home), on_change=self._on_change
            )
        return self._container

    @property
    def has_container_driver(self) -> bool:
        """Whether the container driver was made (some instance of this engine is a container)."""
        return self._container is not None

    def driver_name(self, instance_id: str) -> str:
        return "container" if self._container is not None and instance_id in self._container else "process"

    def _of(self, instance_id: str) -> Driver:
        if self._container is not None and instance_id in self._container:
            return self._container
        return self.process

    async def start(self, spec: InstanceSpec | ContainerSpec) -> InstanceRecord:
        if isinstance(spec, ContainerSpec):
            return await self.container.start(spec)
        return await self.process.start(spec)

    async def stop(self, instance_id: str) -> InstanceRecord:
        return await self._of(instance_id).stop(instance_id)

    async def stop_all(self, instance_ids: Collection[str]) -> list[InstanceRecord]:
        return list(await asyncio.gather(*(self.stop(i) for i in instance_ids)))

    async def forget(self, instance_id: str, *, delete_logs: bool = False) -> None:
        await self._of(instance_id).forget(instance_id, delete_logs=delete_logs)

    async def adopt(self, record: InstanceRecord, driver: str = "process") -> InstanceRecord:
        if driver == "container":
            return await self.container.adopt(record)
        return await self.process.adopt(record)

    def record(self, instance_id: str) -> InstanceRecord:
        return self._of(instance_id).record(instance_id)

    def facts(self, instance_id: str) -> InstanceFacts:
        return self._of(instance_id).facts(instance_id)

    async def wait_for(
        self,
        instance_id: str,
        predicate: Callable[[InstanceRecord], bool] | Collection[InstanceState],
        timeout: float,
    ) -> InstanceRecord:
        return await self._of(instance_id).wait_for(instance_id, predicate, timeout)

    async def detach_all(self) -> None:
        await self.process.detach_all()
        if self._container is not None:
            await self._container.detach_all()

    async def run_check(self, container: str, command: tuple[str, ...]) -> Outcome:
        """The prober's hook for exec checks of container instances."""
        return await run_check(self.container, container, command)


class InstanceLogs:
    """``mooring logs`` over both kinds: files for processes, the engine's log for containers."""

    def __init__(self, drivers: Drivers) -> None:
        self._drivers = drivers

    async def read_tail(self, instance_id: str, n: int) -> list[str]:
        if self._drivers.driver_name(instance_id) == "container":
            return await self._drivers.container.logs.read_tail(instance_id, n)
        return self._drivers.process.logs.read_tail(instance_id, n)

    async def read_since(self, instance_id: str, since: float) -> list[str]:
        if self._drivers.driver_name(instance_id) == "container":
            return await self._drivers.container.logs.read_since(instance_id, since)
        return self._drivers.process.logs.read_since(instance_id, since)

    def _follow(self, instance_id: str, since: float | None) -> AsyncGenerator[str, None] | Any:
        if self._drivers.driver_name(instance_id) == "container":
            return self._container_follow(instance_id, since)
        return self._drivers.process.logs.follow(instance_id, since=since)

    async def _container_follow(self, instance_id: str, since: float | None) -> AsyncGenerator[str, None]:
        # the engine's log API has no "since, then follow" in one stream: the lines since, then new ones
        logs = self._drivers.container.logs
        if since is not None:
            for line in await logs.read_since(instance_id, since):
                yield line
        async for line in logs.follow(instance_id):
            yield line

    async def follow_many(
        self, labelled: dict[str, str], *, tail: int = 0, since: float | None = None
    ) -> AsyncGenerator[str, None]:
        """Follow several instances (``{"web-1": instance_id}``), lines prefixed ``web-1 | ``.

        ``since`` (a client resuming a lost follow) starts each at its lines since then, not a tail.
        After a tail, each instance is followed from the stamp of its last tail line (its tail lines
        are not repeated): a line written between reading the tail and following is not lost.
        """
        width = max((len(label) for label in labelled), default=0)
        start = {label: since for label in labelled}
        shown: dict[str, set[str]] = {label: set() for label in labelled}
        if tail and since is None:
            before = time.time()
            history = {label: await self.read_tail(iid, tail) for label, iid in labelled.items()}
            for line in interleave(history):
                yield line
            for label, lines in history.items():
                stamped = [timestamp_of(line) for line in lines if timestamp_of(line)]
                start[label] = _epoch(stamped[-1]) if stamped else before
                shown[label] = set(lines)
        queue: asyncio.Queue[str] = asyncio.Queue()

        async def pump(label: str, instance_id: str) -> None:
            async for line in self._follow(instance_id, start[label]):
                if shown[label]:
                    if line in shown[label]:
                        continue  # printed with the tail already
                    shown[label] = set()  # past the tail: nothing more to compare with
                await queue.put(f"{label.ljust(width)} | {line}")

        tasks = [asyncio.create_task(pump(label, iid)) for label, iid in labelled.items()]
        try:
            while True:
                yield await queue.get()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


def _epoch(stamp: str) -> float:
    """Epoch seconds of a log line's stamp, a microsecond early (a float may round up past it)."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() - 1e-6
