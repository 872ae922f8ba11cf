"""The executor's group commit: what one event-loop turn journals is written in one transaction.

Every target transition, event and counter change the executor makes is queued here; the first
write of a loop turn schedules one commit at the end of that turn, so a batch of 100 targets moving
together (and their events, and the release's counters) makes one transaction instead of three
hundred. Journal before effect still holds: every side effect goes through :class:`CommittedRuntime`,
which waits for the commit of everything queued before it. Reads flush first, so the executor
always reads its own writes.

The release's targets are loaded once and then kept here, changed by each queued write: while an
executor runs, it is their only writer (the engine's resume and supersede paths act on a release
whose executor is not running).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from typing import Any

from mooring.release.model import Counters, TargetState
from mooring.release.ports import (
    EventWrite,
    Journal,
    JournalWrite,
    Readiness,
    ReleaseRecord,
    ReleaseWrite,
    Runtime,
    TargetRecord,
    TargetWrite,
)

log = logging.getLogger("mooring.release")


class GroupJournal:
    """The :class:`Journal` of one release's executor, with writes committed per loop turn."""

    def __init__(self, journal: Journal, release_id: str) -> None:
        self.journal = journal
        self.release_id = release_id
        self._targets: dict[int, TargetRecord] | None = None  # in the store's order
        self._queue: list[JournalWrite] = []
        self._committed: asyncio.Future[None] | None = None
        self._counts_stale = False

    # --- reads: everything queued before them is committed first ----------------------------

    def get_release(self, release_id: str) -> ReleaseRecord:
        self.flush()
        return self.journal.get_release(release_id)

    def peek_release(self, release_id: str) -> ReleaseRecord:
        """The release as stored, without committing what is queued: for what only others write
        (the operator's control), so reading it between two batches does not split their commit."""
        return self.journal.get_release(release_id)

    def list_targets(self, release_id: str) -> list[TargetRecord]:
        return list(self._loaded(release_id).values())

    def _loaded(self, release_id: str | None = None) -> dict[int, TargetRecord]:
        if release_id is not None and release_id != self.release_id:
            raise ValueError(f"this journal holds the targets of release {self.release_id}, not {release_id}")
        if self._targets is None:
            self.flush()
            self._targets = {t.id: t for t in self.journal.list_targets(self.release_id)}
        return self._targets

    # --- writes: queued for the end of the loop turn ------------------------------------------

    def update_target(self, target_id: int, **changes: Any) -> TargetRecord:
        targets = self._loaded()
        plain = {k: v.value if isinstance(v, Enum) else v for k, v in changes.items()}
        updated: TargetRecord = dataclasses.replace(targets[target_id], **plain)  # type: ignore[type-var]
        targets[target_id] = updated
        if "state" in plain:
            self._counts_stale = True
        self._queue_write(TargetWrite(target_id, plain))
        return updated

    def update_release(self, release_id: str, **changes: Any) -> ReleaseRecord:
        """Rare (status, control, failure): committed at once, with what was queued before it."""
        self._queue_write(ReleaseWrite(release_id, changes))
        return self.get_release(release_id)

    def append_event(
        self, app: str, type: str, payload: Mapping[str, Any], release_id: str | None = None
    ) -> tuple[int, int | None]:
        """Queued; its numbers are given at the commit (and nobody here reads them)."""
        self._queue_write(EventWrite(app, type, dict(payload), release_id))
        return 0, None

    def write(self, writes: Sequence[JournalWrite]) -> None:
        for w in writes:
            self._queue_write(w)

    def recount(self) -> None:
        """Write the release's counters with the next commit (a crash may have left them stale)."""
        self._loaded()
        self._counts_stale = True
        self._queue_write(None)

    def _queue_write(self, write: JournalWrite | None) -> None:
        if write is not None:
            self._queue.append(write)
        if self._committed is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # outside a loop (a tool, a test): nothing to group with
            self.flush()
            return
        self._committed = loop.create_future()
        # two hops: tasks created in this turn (a batch's targets, by gather) take their first step
        # first, so their transitions join this commit instead of each making its own
        loop.call_soon(loop.call_soon, self._flush_at_end_of_turn)

    # --- commits -------------------------------------------------------------------------------

    async def committed(self) -> None:
        """Return once everything queued so far is committed; raise what the commit raised."""
        if self._committed is not None:
            await asyncio.shield(self._committed)  # a cancelled waiter does not cancel the commit

    def flush(self) -> None:
        """Commit everything queued now, in one transaction, and settle whoever waits for it."""
        committed, self._committed = self._committed, None
        writes, self._queue = self._queue, []
        if self._counts_stale and self._targets is not None:
            writes.append(ReleaseWrite(self.release_id, _counters(self._targets.values())))
            self._counts_stale = False
        try:
            if writes:
                self.journal.write(writes)
        except BaseException as exc:
            if committed is not None and not committed.done():
                committed.set_exception(exc)
                committed.exception()  # the waiters raise it; not "never retrieved" when there are none
            raise
        if committed is not None and not committed.done():
            committed.set_result(None)

    def _flush_at_end_of_turn(self) -> None:
        if self._committed is None:
            return  # a read flushed it already
        try:
            self.flush()
        except Exception:  # handed to the waiters, who raise it where the executor can act on it
            log.debug("release %s: the group commit failed", self.release_id, exc_info=True)

    def flush_quietly(self) -> None:
        """On the executor's way out after an error: commit what it queued before, if the store lets it."""
        queued = len(self._queue)
        try:
            self.flush()
        except Exception as exc:
            log.warning("release %s: %d journal write(s) lost on exit: %s", self.release_id, queued, exc)


class CommittedRuntime:
    """The executor's runtime: each side effect waits for the commit of what was journaled before it."""

    def __init__(self, runtime: Runtime, journal: GroupJournal) -> None:
        self.runtime = runtime
        self.journal = journal

    async def prepare(self, service: str, release_id: str) -> str | None:
        await self.journal.committed()
        return await self.runtime.prepare(service, release_id)

    async def start(self, instance_id: str, service: str, replica: int, release_id: str) -> str | None:
        await self.journal.committed()
        return await self.runtime.start(instance_id, service, replica, release_id)

    async def wait_ready(
        self,
        instance_id: str,
        timeout: float,
        min_ready: float,
        interrupt: asyncio.Event,
        on_health: Callable[[str, str], None] | None = None,
    ) -> Readiness:
        await self.journal.committed()
        return await self.runtime.wait_ready(instance_id, timeout, min_ready, interrupt, on_health)

    async def stop(self, instance_id: str) -> int:
        await self.journal.committed()
        return await self.runtime.stop(instance_id)

    async def serve(self, instance_id: str) -> None:
        await self.journal.committed()
        self.runtime.serve(instance_id)

    async def switch(self, serve: Sequence[str], retire: Sequence[str]) -> None:
        await self.journal.committed()
        await self.runtime.switch(serve, retire)

    async def weigh(self, release_id: str, service: str, canary: Sequence[str], percent: int | None) -> None:
        await self.journal.committed()
        await self.runtime.weigh(release_id, service, canary, percent)

    async def run_worker(self, name: str, release_id: str) -> str | None:
        await self.journal.committed()
        return await self.runtime.run_worker(name, release_id)


def _counters(targets: Any) -> dict[str, int]:
    c = Counters.of(TargetState(t.state) for t in targets)
    return {
        "targets_total": c.total,
        "targets_ready": c.ready,
        "targets_failed": c.failed,
        "targets_unchanged": c.unchanged,
        "targets_removed": c.removed,
        "targets_pending": c.left,
    }
