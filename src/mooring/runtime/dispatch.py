"""One entry to instances of every kind: host processes (Supervisor) and containers (ContainerDriver).

Both implement the :class:`~mooring.runtime.driver.Driver` protocol; this dispatches each call to the
driver that runs the instance (a start, by the kind of its spec). The container driver is made on
first use, so a host without a container engine runs process apps exactly as before. A new driver
(Swarm) is one more member of :meth:`Drivers.active` and one more case of :meth:`Drivers.start`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Collection
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mooring.health.result import Outcome
from mooring.runtime.container import ContainerSpec, resolve_address
from mooring.runtime.container.errors import ContainerEngineUnreachable
from mooring.runtime.driver import Driver
from mooring.runtime.facts import InstanceFacts
from mooring.runtime.instance import OnChange
from mooring.runtime.log_reader import interleave, timestamp_of
from mooring.runtime.record import InstanceRecord
from mooring.runtime.spec import InstanceSpec
from mooring.runtime.states import InstanceState
from mooring.runtime.supervisor import Supervisor
from mooring.runtime.swarm import SwarmSpec
from mooring.runtime.swarm.address import no_cluster_message, resolve_cluster_address

if TYPE_CHECKING:
    # the drivers import the docker SDK: made (and imported) on first use, see below
    from mooring.runtime.container import ContainerDriver
    from mooring.runtime.swarm import SwarmDriver


class Drivers:
    """Dispatches each call to the driver that runs the instance."""

    def __init__(self, home: Path, on_change: OnChange, cluster_label: str | None = None) -> None:
        self.home = home
        # What marks this engine's Swarm services: its home alone, or a cluster of engines that
        # adopt each other's (``cluster:<name>``). Host containers stay the home's.
        self.cluster_label = cluster_label or str(home)
        self._on_change = on_change
        self.process = Supervisor(home / "logs", on_change=on_change)
        self._container: ContainerDriver | None = None
        self._swarm: SwarmDriver | None = None
        self.node_watchers: list[Callable[[dict[str, Any], str, str], None]] = []
        self.logs = InstanceLogs(self)

    @property
    def container(self) -> ContainerDriver:
        """The container driver; resolving the engine's address may raise for a broken engine.toml."""
        if self._container is None:
            from mooring.runtime.container.driver import ContainerDriver

            self._container = ContainerDriver(
                resolve_address(self.home), home_label=str(self.home), on_change=self._on_change
            )
        return self._container

    @property
    def has_container_driver(self) -> bool:
        """Whether the container driver was made (some instance of this engine is a container)."""
        return self._container is not None

    @property
    def swarm(self) -> SwarmDriver:
        """The cluster driver; ``ContainerEngineUnreachable`` when no cluster is configured."""
        if self._swarm is None:
            address = resolve_cluster_address(self.home)
            if address is None:
                raise ContainerEngineUnreachable(no_cluster_message(self.home))
            from mooring.runtime.swarm.driver import SwarmDriver

            self._swarm = SwarmDriver(address, home_label=self.cluster_label, on_change=self._on_change)
            for watcher in self.node_watchers:
                self._swarm.on_node_change(watcher)
        return self._swarm

    @property
    def has_cluster(self) -> bool:
        return self._swarm is not None or resolve_cluster_address(self.home) is not None

    def active(self) -> list[Driver[Any]]:
        """The drivers made so far (the container and cluster drivers only once used)."""
        made: list[Driver[Any]] = [self.process]
        if self._container is not None:
            made.append(self._container)
        if self._swarm is not None:
            made.append(self._swarm)
        return made

    def driver_of(self, instance_id: str) -> Driver[Any]:
        for driver in self.active()[1:]:
            if instance_id in driver:
                return driver
        return self.process

    def driver_name(self, instance_id: str) -> str:
        return self.driver_of(instance_id).name

    def _named(self, name: str) -> Driver[Any]:
        if name == "swarm":
            return self.swarm
        return self.container if name == "container" else self.process

    async def start(self, spec: InstanceSpec | ContainerSpec | SwarmSpec) -> InstanceRecord:
        if isinstance(spec, SwarmSpec):
            return await self.swarm.start(spec)
        if isinstance(spec, ContainerSpec):
            return await self.container.start(spec)
        return await self.process.start(spec)

    async def stop(self, instance_id: str) -> InstanceRecord:
        return await self.driver_of(instance_id).stop(instance_id)

    async def stop_all(self, instance_ids: Collection[str]) -> list[InstanceRecord]:
        return list(await asyncio.gather(*(self.stop(i) for i in instance_ids)))

    async def forget(self, instance_id: str, *, delete_logs: bool = False) -> None:
        await self.driver_of(instance_id).forget(instance_id, delete_logs=delete_logs)

    async def adopt(self, record: InstanceRecord, driver: str = "process") -> InstanceRecord:
        return await self._named(driver).adopt(record)

    def record(self, instance_id: str) -> InstanceRecord:
        return self.driver_of(instance_id).record(instance_id)

    def facts(self, instance_id: str) -> InstanceFacts:
        return self.driver_of(instance_id).facts(instance_id)

    async def wait_for(
        self,
        instance_id: str,
        predicate: Callable[[InstanceRecord], bool] | Collection[InstanceState],
        timeout: float,
    ) -> InstanceRecord:
        return await self.driver_of(instance_id).wait_for(instance_id, predicate, timeout)

    async def detach_all(self) -> None:
        for driver in self.active():
            await driver.detach_all()

    async def run_check(self, container: str, command: tuple[str, ...]) -> Outcome:
        """The prober's hook for exec checks of container instances."""
        from mooring.runtime.container.driver import run_check

        return await run_check(self.container, container, command)


class InstanceLogs:
    """``mooring logs`` over both kinds: files for processes, the engine's log for containers."""

    def __init__(self, drivers: Drivers) -> None:
        self._drivers = drivers

    async def read_tail(self, instance_id: str, n: int) -> list[str]:
        return await self._drivers.driver_of(instance_id).read_log_tail(instance_id, n)

    async def read_since(self, instance_id: str, since: float) -> list[str]:
        return await self._drivers.driver_of(instance_id).read_log_since(instance_id, since)

    def _follow(self, instance_id: str, since: float | None) -> AsyncIterator[str]:
        return self._drivers.driver_of(instance_id).follow_log(instance_id, since)

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


def _implements_driver(
    process: Supervisor, container: ContainerDriver, swarm: SwarmDriver
) -> tuple[Driver[InstanceSpec], Driver[ContainerSpec], Driver[SwarmSpec]]:
    """Never called: mypy checks here that every driver implements the protocol."""
    return process, container, swarm
