"""Reconciliation: every instance the engine runs belongs to a release, or it is stopped (issue 17).

A slot (service, replica) of an app runs one instance. When a fault left more than one live instance
in a slot (a store outage mid-rollout, an adopted record no release names), the one the app's latest
release names for the slot is kept and the others are stopped, each recorded as an
``instance.orphan_removed`` event. It runs after every release, at start-up and periodically, only
while no release or down holds the app's lease (under that lease itself), so it never races one.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from mooring.engine.book import InstanceBook
from mooring.engine.journal import Journal
from mooring.errors import LeaseConflict, MooringError
from mooring.runtime.states import InstanceState
from mooring.store import Store

log = logging.getLogger("mooring.engine")

EVERY_ENV = "MOORING_RECONCILE_EVERY"
DEFAULT_EVERY = 30.0
LIVE = {InstanceState.STARTING, InstanceState.RUNNING, InstanceState.BACKOFF}
RELEASES_LOOKED_AT = 20


def every() -> float:
    try:
        return max(1.0, float(os.environ.get(EVERY_ENV, DEFAULT_EVERY)))
    except ValueError:
        return DEFAULT_EVERY


class Leases(Protocol):
    """What reconciliation uses of the release manager (engine/releases.py): whether a release of the
    app is at work, and the app's lease, so it never races a release or a down."""

    def executing(self, app: str) -> bool: ...

    def take_lease(self, app: str, holder: str) -> None: ...

    def release_lease(self, app: str, holder: str) -> None: ...


class Reconciler:
    """``stop(instance_id)`` is the release runtime's: withdraw from the edge, stop, forget."""

    def __init__(
        self,
        store: Store,
        book: InstanceBook,
        journal: Journal,
        leases: Leases,
        stop: Callable[[str], Awaitable[int]],
    ) -> None:
        self.store = store
        self.book = book
        self.journal = journal
        self.leases = leases
        self.stop = stop

    def _slots(self, app: str) -> dict[tuple[str, int], list[str]]:
        """Live service instances of the app by slot."""
        slots: dict[tuple[str, int], list[str]] = defaultdict(list)
        for iid, entry in self.book.of_app(app).items():
            if entry.kind == "service" and entry.record is not None and entry.record.state in LIVE:
                slots[(entry.service, entry.replica)].append(iid)
        return slots

    def _named(self, app: str, slot: tuple[str, int], live: list[str]) -> str | None:
        """The live instance of ``slot`` the newest release that names one of them names."""
        for release in self.store.list_releases(app, limit=RELEASES_LOOKED_AT):
            for target in self.store.list_targets(release.id):
                if (target.service, target.replica) != slot:
                    continue
                for candidate in (target.instance_id, target.previous_instance_id):
                    if candidate in live:
                        if candidate == target.previous_instance_id and target.state == "ready":
                            continue  # replaced by this release: not the one it wants
                        return candidate
        return None

    async def remove_orphans(self, app: str) -> list[str]:
        """Stop every live instance of ``app`` that is not the one its slot's latest release names."""
        duplicated = {slot: ids for slot, ids in self._slots(app).items() if len(ids) > 1}
        if not duplicated:
            return []
        if self.leases.executing(app):
            return []
        holder = "reconcile-" + secrets.token_hex(4)
        try:
            self.leases.take_lease(app, holder)
        except LeaseConflict:
            return []  # a release or a down is at work: it is checked again after it
        removed: list[str] = []
        try:
            for slot, ids in self._slots(app).items():  # again, under the lease
                if len(ids) < 2:
                    continue
                keep = self._named(app, slot, ids) or self._newest(ids)
                for iid in ids:
                    if iid == keep:
                        continue
                    await self._remove(app, slot, iid, keep)
                    removed.append(iid)
        finally:
            self.leases.release_lease(app, holder)
        return removed

    def _newest(self, ids: list[str]) -> str:
        def started(iid: str) -> float:
            record = self.book.entries[iid].record
            return (record.started_at or 0.0) if record is not None else 0.0

        return max(ids, key=started)

    async def _remove(self, app: str, slot: tuple[str, int], iid: str, keep: str) -> None:
        entry = self.book.entries.get(iid)
        release_id = entry.release_id if entry is not None else None
        log.error(
            "instance %s of app %s (%s-%d, release %s) belongs to no release: the slot runs %s; stopping it",
            iid,
            app,
            slot[0],
            slot[1],
            release_id or "?",
            keep,
        )
        await self.stop(iid)
        self.journal.append_event(
            app,
            "instance.orphan_removed",
            {
                "instance_id": iid,
                "service": slot[0],
                "replica": slot[1],
                "release_id": release_id,
                "kept": keep,
                "detail": f"{slot[0]}-{slot[1]} ran two instances; {keep} is the one its release names",
            },
        )

    async def reconcile_all(self) -> dict[str, list[str]]:
        """One pass over every app the engine runs instances of."""
        removed: dict[str, list[str]] = {}
        for app in sorted({e.app for e in self.book.entries.values()}):
            try:
                gone = await self.remove_orphans(app)
            except MooringError as exc:  # a store outage: the next pass tries again
                log.warning("reconciling app %s: %s", app, exc.message)
                continue
            if gone:
                removed[app] = gone
        return removed

    async def forever(self) -> None:
        while True:
            try:
                await self.reconcile_all()
            except Exception:
                log.exception("reconciliation pass failed; trying again in %gs", every())
            await asyncio.sleep(every())

    def after_release(self, app: str, tasks: set[asyncio.Task[Any]]) -> None:
        """Reconcile ``app`` once its release let go of the lease."""

        async def run() -> None:
            try:
                await self.remove_orphans(app)
            except Exception:
                log.exception("reconciling app %s after its release failed", app)

        task = asyncio.ensure_future(run())
        tasks.add(task)
        task.add_done_callback(tasks.discard)
