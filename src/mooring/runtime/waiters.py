"""``wait_for`` on instance records, shared by the process and container drivers.

Plain futures per waiter, no lock: an ``asyncio.Condition`` shared by all waiters could be left
locked for good by a waiter cancelled at its timeout (see ``Supervisor._wake_waiters``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection

from .proc import settled
from .record import InstanceRecord
from .states import InstanceState


class RecordWaiters:
    """Callers waiting for a change of an instance's record, woken by the driver on every change."""

    def __init__(self, what: str = "instance") -> None:
        self._what = what  # how timeouts name the instance ("instance", "container instance")
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}

    def wake(self, instance_id: str) -> None:
        """Wake every waiter on this instance; never blocks, so a state change cannot hang here."""
        for waiter in self._waiters.pop(instance_id, ()):
            if not waiter.done():
                waiter.set_result(None)

    async def wait_for(
        self,
        instance_id: str,
        record_of: Callable[[str], InstanceRecord],
        predicate: Callable[[InstanceRecord], bool] | Collection[InstanceState],
        timeout: float,
    ) -> InstanceRecord:
        """Wait (on record changes, not polling) until the record matches; ``TimeoutError`` if not."""
        if callable(predicate):
            matches = predicate
        else:
            wanted = frozenset(predicate)
            matches = lambda record: record.state in wanted  # noqa: E731
        deadline = time.monotonic() + timeout
        loop = asyncio.get_running_loop()
        while not matches(record := record_of(instance_id)):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"{self._what} {instance_id} is still {record.state} after {timeout:g}s"
                    f" ({record.last_exit_message or 'no exit recorded'})"
                )
            # Registered right after the check, with no await in between: no change is missed.
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.setdefault(instance_id, set()).add(waiter)
            try:
                await settled(waiter, remaining)  # no task, no lock: cancellable at any point
            finally:
                waiters = self._waiters.get(instance_id)
                if waiters is not None:
                    waiters.discard(waiter)
                    if not waiters:
                        del self._waiters[instance_id]
        return record
