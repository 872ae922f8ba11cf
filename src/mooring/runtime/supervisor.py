"""The engine's entry point to host processes: start, stop, adopt and inspect instances."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from pathlib import Path
from typing import Any

from . import instance_files
from .cgroups import CgroupHost
from .errors import InstanceBusy, UnknownInstance
from .facts import InstanceFacts
from .facts_watch import FactsWatch
from .instance import Instance, OnChange
from .log_reader import LogReader
from .logs import DEFAULT_KEEP, DEFAULT_MAX_BYTES
from .policy import BackoffPolicy
from .record import InstanceRecord
from .settings import RuntimeSettings
from .spec import InstanceSpec
from .states import InstanceState
from .waiters import RecordWaiters


class Supervisor:
    """Owns the host-process instances of one engine; a lifecycle task per instance while it changes.

    Logs go to ``log_dir/<instance_id>.log``; the output FIFOs to ``fifo_dir`` (default
    ``log_dir``; a tmpfs such as ``/run/mooring`` is cheaper). ``on_change(record)`` is called (and awaited, if it returns an awaitable) on every state
    change, before the runtime's next side effect: the engine persists the record there. Without
    ``cgroups`` the host is probed once with :meth:`CgroupHost.detect`.
    """

    name = "process"  # the Driver protocol (runtime/driver.py)

    def __init__(
        self,
        log_dir: Path | str,
        *,
        on_change: OnChange | None = None,
        fifo_dir: Path | str | None = None,
        cgroups: CgroupHost | None = None,
        backoff: BackoffPolicy | None = None,
        log_max_bytes: int = DEFAULT_MAX_BYTES,
        log_keep: int = DEFAULT_KEEP,
        kill_timeout: float = 10.0,
        failure_log_lines: int = 20,
    ) -> None:
        self.settings = RuntimeSettings(
            log_dir=Path(log_dir),
            fifo_dir=Path(fifo_dir) if fifo_dir is not None else None,
            cgroups=cgroups if cgroups is not None else CgroupHost.detect(),
            backoff=backoff or BackoffPolicy(),
            log_max_bytes=log_max_bytes,
            log_keep=log_keep,
            kill_timeout=kill_timeout,
            failure_log_lines=failure_log_lines,
        )
        self.logs = LogReader(self.settings.log_dir, self.settings.notifier, keep=log_keep)
        self._engine_on_change = on_change
        self._instances: dict[str, Instance] = {}
        self._facts = FactsWatch(lambda: ((i, x.record, x.cgroup) for i, x in self._instances.items()))
        # wait_for() callers, woken by the next change of their instance. Plain futures, no lock:
        # an asyncio.Condition shared by all waiters could be left locked for good by a waiter
        # cancelled at its timeout (see _wake_waiters), after which every state change hung.
        self._waiters = RecordWaiters()

    @property
    def cgroups(self) -> CgroupHost:
        """What this host offers for grouping and limits."""
        return self.settings.cgroups

    async def _on_change(self, record: InstanceRecord) -> None:
        try:
            if self._engine_on_change is not None:
                result: Awaitable[None] | None = self._engine_on_change(record)
                if inspect.isawaitable(result):
                    await result
        finally:
            self._wake_waiters(record.instance_id)

    def _wake_waiters(self, instance_id: str) -> None:
        """Wake every ``wait_for`` on this instance; never blocks, so a state change cannot hang here.

        This used to be ``async with condition: condition.notify_all()``, with waiters doing
        ``async with condition: ... asyncio.wait_for(condition.wait(), remaining)``. On Python 3.11
        ``wait_for`` runs ``condition.wait()`` as a separate task. When several waiters time out
        together and are cancelled right then (the engine cancels the losing side of "healthy or
        down", whose deadlines are equal), each outer waiter leaves ``async with`` while its inner
        task is still queued to re-acquire the lock: the first release frees the lock, the others
        fail ("Lock is not acquired"), and an orphaned inner task then re-acquires it and ends
        with ``CancelledError`` holding it. The lock was never released again, so the next
        ``_on_change`` of every instance (``stopping``, after the engine had journaled it) waited
        for it forever: ``stop()`` hung before the stop signal was even sent.
        """
        self._waiters.wake(instance_id)

    def __contains__(self, instance_id: object) -> bool:
        return instance_id in self._instances

    def _instance(self, instance_id: str) -> Instance:
        try:
            return self._instances[instance_id]
        except KeyError:
            raise UnknownInstance(
                f"no instance {instance_id!r} is supervised here",
                hint="`mooring ps` lists the instances the engine knows",
            ) from None

    async def start(self, spec: InstanceSpec) -> InstanceRecord:
        """Start an instance (new, or resting with the same id); returns once it runs or failed to start.

        A start failure is not an exception: the record says ``backoff`` or ``failed`` with
        ``last_exit_reason = "start_failed"`` and the error in ``last_exit_message``.
        """
        instance = self._instances.get(spec.instance_id)
        if instance is None:
            instance = Instance(spec, self.settings, self._on_change)
            self._instances[spec.instance_id] = instance
        return await instance.start(spec)

    async def stop(self, instance_id: str) -> InstanceRecord:
        """Stop an instance; returns once its process and every descendant are gone."""
        return await self._instance(instance_id).stop()

    async def stop_all(self, instance_ids: Collection[str] | None = None) -> list[InstanceRecord]:
        """Stop several instances concurrently (all of them by default)."""
        ids = list(self._instances) if instance_ids is None else list(instance_ids)
        return list(await asyncio.gather(*(self.stop(i) for i in ids)))

    async def adopt(self, record: InstanceRecord | Mapping[str, Any]) -> InstanceRecord:
        """Take over an instance recorded by an earlier engine.

        Re-attaches only if its pid is alive, has the recorded start time and (when recorded) is in
        its cgroup; otherwise the instance is reported as died-while-away and its restart policy
        applies. A process that fails these checks is never signalled.
        """
        if not isinstance(record, InstanceRecord):
            record = InstanceRecord.from_dict(record)
        if record.instance_id in self._instances:
            raise InstanceBusy(
                f"instance {record.instance_id} is already supervised here; not adopting it twice"
            )
        instance = Instance(record.instance_spec, self.settings, self._on_change, record)
        self._instances[record.instance_id] = instance
        await instance.adopt()
        return instance.record

    def record(self, instance_id: str) -> InstanceRecord:
        """The current record of one instance."""
        return self._instance(instance_id).record

    def records(self) -> list[InstanceRecord]:
        """Every supervised instance's current record."""
        return [instance.record for instance in self._instances.values()]

    def facts(self, instance_id: str) -> InstanceFacts:
        """Facts for ``ps``: pid, state, restarts, uptime (live), CPU% and memory (sampled, facts_watch.py)."""
        instance = self._instance(instance_id)
        return self._facts.facts(instance_id, instance.record, instance.cgroup)

    async def wait_for(
        self,
        instance_id: str,
        predicate: Callable[[InstanceRecord], bool] | Collection[InstanceState],
        timeout: float,
    ) -> InstanceRecord:
        """Wait (on state-change events, not polling) until the record matches; ``TimeoutError`` if not."""
        return await self._waiters.wait_for(instance_id, self.record, predicate, timeout)

    async def forget(self, instance_id: str, *, delete_logs: bool = False) -> None:
        """Drop a resting instance (stop it first); its FIFOs go, its log files stay unless asked."""
        instance = self._instance(instance_id)
        if instance.busy or instance.record.state not in (
            InstanceState.STOPPED,
            InstanceState.EXITED,
            InstanceState.FAILED,
        ):
            raise InstanceBusy(
                f"instance {instance_id} is {instance.record.state}; stop it before forgetting it"
            )
        instance.log.remove_fifos()
        instance_files.remove(instance.spec.instance_dir)  # its rendered files go with the instance
        if delete_logs:
            for path in self.logs.files(instance_id):
                path.unlink(missing_ok=True)
        del self._instances[instance_id]
        self._facts.forget(instance_id)

    async def detach_all(self) -> None:
        """Stop supervising everything but leave every process running (engine shutdown)."""
        await asyncio.gather(*(instance.detach() for instance in self._instances.values()))
        self._instances.clear()
        await self._facts.close()

    # --- logs, as the Driver protocol reads them (files under log_dir) ---------------------------

    async def read_log_tail(self, instance_id: str, n: int) -> list[str]:
        return self.logs.read_tail(instance_id, n)

    async def read_log_since(self, instance_id: str, since: float) -> list[str]:
        return self.logs.read_since(instance_id, since)

    def follow_log(self, instance_id: str, since: float | None) -> AsyncIterator[str]:
        return self.logs.follow(instance_id, since=since)
