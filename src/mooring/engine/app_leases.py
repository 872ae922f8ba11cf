"""The app lease as the engine holds it: one writer per app (a release, a down, a reconciliation),
taken as this engine process (host, pid and start time), renewed by a heartbeat, reclaimed at once
from a holder on this host that is gone."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from datetime import timedelta

from mooring.engine.holders import holder_gone, start_time
from mooring.errors import LeaseConflict, StoreError
from mooring.store import Store

log = logging.getLogger("mooring.engine")
LEASE_TTL = timedelta(seconds=30)
HEARTBEAT = 10.0


class AppLeases:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.host = socket.gethostname()
        self._lease_freed = asyncio.Event()
        self._start_time = start_time()

    def take_lease(self, app: str, holder: str) -> None:
        """Take the app's lease as this engine (pid and start time), reclaiming it from a dead local holder."""
        try:
            self.store.acquire_lease(
                app, holder, self.host, os.getpid(), LEASE_TTL, pid_start_time=self._start_time
            )
        except LeaseConflict:
            if not self._reclaim_if_dead(app):
                raise
            self.store.acquire_lease(
                app, holder, self.host, os.getpid(), LEASE_TTL, pid_start_time=self._start_time
            )

    async def acquire(self, app: str, holder: str, wait_lock: float | None) -> None:
        deadline = time.monotonic() + (wait_lock or 0.0)
        while True:
            try:
                self.take_lease(app, holder)
                return
            except LeaseConflict:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise
                self._lease_freed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._lease_freed.wait(), min(remaining, 1.0))

    def release_lease(self, app: str, holder: str) -> None:
        self.store.release_lease(app, holder)
        self._lease_freed.set()

    async def _heartbeat(self, app: str, holder: str) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT)
            try:
                self.store.renew_lease(app, holder, LEASE_TTL)
            except LeaseConflict:
                log.error("release %s lost the lease of app %s", holder, app)
                return
            except StoreError as exc:  # a store outage: keep beating, the next renewal may go through
                log.warning("release %s: could not renew the lease of app %s: %s", holder, app, exc.message)

    def reclaim_dead_leases(self) -> None:
        """Leases of an engine on this host that is gone: nobody will renew them, take them back now."""
        for app in self.store.list_apps():
            self._reclaim_if_dead(app.name)

    def _reclaim_if_dead(self, app: str) -> bool:
        """Break the app's lease if its holder ran on this host and that process is gone (pid + start time)."""
        lease = self.store.current_lease(app)
        if lease is None or lease.host != self.host:
            return False
        if lease.pid == os.getpid():
            # this engine's own pid: a lease of an earlier process only if the start time differs
            if lease.pid_start_time is None or self._start_time is None:
                return False
            if abs(lease.pid_start_time - self._start_time) <= 0.5:
                return False
        elif not holder_gone(lease.pid, lease.pid_start_time, lease.acquired_at):
            return False
        if self.store.break_lease(app, lease.holder):
            log.warning(
                "reclaimed the lease of app %s from %s: its process (pid %d) on this host is gone",
                app,
                lease.holder,
                lease.pid,
            )
        return True
