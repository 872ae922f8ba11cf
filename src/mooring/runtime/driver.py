"""The ``Driver`` protocol: what the engine asks of whatever runs instances.

The process :class:`~mooring.runtime.Supervisor` and the
:class:`~mooring.runtime.container.ContainerDriver` implement it; a new driver (Swarm, Kubernetes)
implements it too and is added to :class:`~mooring.runtime.dispatch.Drivers`, which picks the driver
of each instance. Every state change is handed to the ``on_change`` callback the driver was built
with, before the driver's next side effect (the engine journals it there).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection
from typing import Protocol, TypeVar, runtime_checkable

from mooring.runtime.facts import InstanceFacts
from mooring.runtime.record import InstanceRecord
from mooring.runtime.states import InstanceState

SpecT_contra = TypeVar("SpecT_contra", contravariant=True)
Until = Callable[[InstanceRecord], bool] | Collection[InstanceState]


@runtime_checkable
class Driver(Protocol[SpecT_contra]):
    """Runs instances of one kind (``name``: ``process``, ``container``, ...)."""

    name: str

    def __contains__(self, instance_id: object) -> bool:
        """Whether this driver runs (or ran and still knows) the instance."""
        ...

    async def start(self, spec: SpecT_contra) -> InstanceRecord:
        """Start an instance; a start failure is a record (``backoff``/``failed``), not an exception."""
        ...

    async def stop(self, instance_id: str) -> InstanceRecord:
        """Stop an instance; returns once it is gone (stop signal, then kill after its timeout)."""
        ...

    async def forget(self, instance_id: str, *, delete_logs: bool = False) -> None:
        """Drop a resting instance from the driver."""
        ...

    async def adopt(self, record: InstanceRecord) -> InstanceRecord:
        """Take over an instance a previous engine recorded; report it died while away otherwise."""
        ...

    async def detach_all(self) -> None:
        """Stop watching every instance but leave them running (engine shutdown)."""
        ...

    def record(self, instance_id: str) -> InstanceRecord:
        """The instance's current record."""
        ...

    def facts(self, instance_id: str) -> InstanceFacts:
        """Live facts for ``ps``: state, pid, restarts, uptime, CPU, memory, limits."""
        ...

    async def wait_for(self, instance_id: str, predicate: Until, timeout: float) -> InstanceRecord:
        """Wait (on changes, not polling) until the record matches; ``TimeoutError`` after ``timeout``."""
        ...

    async def read_log_tail(self, instance_id: str, n: int) -> list[str]:
        """The last ``n`` stamped log lines, oldest first."""
        ...

    async def read_log_since(self, instance_id: str, since: float) -> list[str]:
        """Every stamped log line at or after ``since`` (epoch seconds)."""
        ...

    def follow_log(self, instance_id: str, since: float | None) -> AsyncIterator[str]:
        """New log lines as they come (from ``since`` when given), until the instance's log ends."""
        ...
