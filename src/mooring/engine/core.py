"""The engine: owns the store, the supervisor and the prober; recovers instances at start-up."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from mooring import __version__
from mooring.engine.book import BookEntry, InstanceBook
from mooring.engine.lifecycle import Lifecycle
from mooring.engine.releases import ReleaseManager
from mooring.errors import NotFound
from mooring.health import Prober, Transition
from mooring.runtime import Supervisor
from mooring.runtime.record import InstanceRecord
from mooring.store import open_store

log = logging.getLogger("mooring.engine")


class Engine:
    """One per host: the only writer of state and the only owner of workloads."""

    version = __version__

    def __init__(self, home: Path, database_url: str | None = None) -> None:
        self.home = home
        self.started_at = time.time()
        self.store = open_store(database_url) if database_url else open_store()
        self.book = InstanceBook(self.store)
        self.prober = Prober()
        self.supervisor = Supervisor(home / "logs", on_change=self._on_record)
        self.lifecycle = Lifecycle(self)
        self.releases = ReleaseManager(self)

    # --- start-up and shutdown -------------------------------------------------------------

    async def start(self) -> None:
        await self.prober.start()
        await self._adopt_instances()
        self.releases.recover()

    async def _adopt_instances(self) -> None:
        """Re-attach every instance a previous engine recorded; report the ones that died meanwhile."""
        for row in self.store.list_instances():
            restored = self.book.restore(row)
            if restored is None:
                self.store.delete_instance(row.id)
                continue
            entry, record = restored
            self.book.add(row.id, entry)
            try:
                adopted = await self.supervisor.adopt(record)
            except Exception:
                log.exception("could not adopt instance %s; leaving its process alone", row.id)
                continue
            log.warning("adopted instance %s: %s (pid %s)", row.id, adopted.state, adopted.pid)
            self.watch_health(row.id)

    async def shutdown(self) -> None:
        """Stop supervising but leave every instance running, for the next engine to adopt.

        Release executors stop where they are; their releases stay in_progress and resume in place
        when the next engine starts.
        """
        for _, task in list(self.releases.executors.values()):
            task.cancel()
        await asyncio.gather(*(t for _, t in self.releases.executors.values()), return_exceptions=True)
        await self.supervisor.detach_all()
        await self.prober.close()
        self.book.flush()  # changes of the last loop turn
        self.store.close()

    # --- wiring between runtime, prober and store ---------------------------------------------

    def _on_record(self, record: InstanceRecord) -> asyncio.Future[None] | None:
        committed = self.book.persist(record, self.health_of(record.instance_id))
        # Shielded: the commit is shared by every instance changed in the same loop turn, and a
        # cancelled waiter must not cancel it for the others.
        return asyncio.shield(committed) if committed is not None else None

    def watch_health(self, instance_id: str) -> None:
        entry = self.book.entries[instance_id]
        if entry.probe is not None:
            self.prober.register(instance_id, entry.probe, self._on_health)

    def _on_health(self, instance_id: str, transition: Transition) -> None:
        entry = self.book.entries.get(instance_id)
        if entry is not None and entry.record is not None:
            self.book.persist(entry.record, transition.current.value)

    def health_of(self, instance_id: str) -> str | None:
        if instance_id not in self.prober:
            return None
        return self.prober.status(instance_id).state.value

    # --- queries --------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "pid": os.getpid(),
            "home": str(self.home),
            "started_at": self.started_at,
            "instances": len(self.book.entries),
        }

    def list_apps(self) -> list[dict[str, Any]]:
        apps = []
        for app in self.store.list_apps():
            entries = self.book.of_app(app.name)
            apps.append({"name": app.name, "instances": len(entries)})
        return apps

    def instances(self, app: str | None = None) -> list[dict[str, Any]]:
        rows = []
        for iid, entry in sorted(
            self.book.entries.items(), key=lambda kv: (kv[1].app, kv[1].service, kv[1].replica)
        ):
            if app is not None and entry.app != app:
                continue
            rows.append(self.instance_view(iid, entry))
        return rows

    def instance_view(self, iid: str, entry: BookEntry) -> dict[str, Any]:
        facts = self.supervisor.facts(iid)
        record = self.supervisor.record(iid)
        return {
            "id": iid,
            "app": entry.app,
            "service": entry.service,
            "replica": entry.replica,
            "driver": "process",
            "state": facts.state,
            "health": self.health_of(iid),
            "pid": facts.pid,
            "restarts": facts.restarts,
            "uptime": facts.uptime,
            "cpu_percent": facts.cpu_percent,
            "memory_bytes": facts.memory_bytes if facts.memory_bytes is not None else facts.rss_bytes,
            "ports": {str(k): v for k, v in entry.ports.items()},
            "exit_code": record.last_exit_code,
            "last_error": facts.last_exit or None,
            "limits": None if facts.limits_applied else (facts.limits_note or "limits not applied"),
            "release_id": entry.release_id,
        }

    # --- app lifecycle (the release executor takes this over) ------------------------------------

    async def down(
        self, app: str, services: list[str] | None = None, wait_lock: float | None = None
    ) -> dict[str, Any]:
        return await self.lifecycle.down(app, services, wait_lock)

    # --- logs -----------------------------------------------------------------------------

    def _log_sources(self, app: str, target: str | None) -> dict[str, str]:
        entries = self.book.of_app(app)
        chosen = {
            f"{e.service}-{e.replica}": iid
            for iid, e in sorted(entries.items(), key=lambda kv: (kv[1].service, kv[1].replica))
            if target in (None, e.service, iid, f"{e.service}-{e.replica}")
        }
        if not chosen:
            known = sorted({e.service for e in entries.values()})
            raise NotFound(
                f"no instance of app {app!r} matches {target!r}"
                if target
                else f"app {app!r} has no instances",
                hint=f"services: {', '.join(known)}" if known else "start it with: mooring up",
            )
        return chosen

    async def logs(
        self, app: str, target: str | None, *, tail: int | None, since: float | None, follow: bool
    ) -> AsyncIterator[str]:
        from mooring.runtime.log_reader import interleave

        sources = self._log_sources(app, target)
        reader = self.supervisor.logs
        if follow:
            async for line in reader.follow_many(sources, tail=tail if tail is not None else 10):
                yield line
            return
        history: dict[str, list[str]] = {}
        for label, iid in sources.items():
            lines = reader.read_since(iid, since) if since is not None else reader.read_tail(iid, tail or 100)
            history[label] = lines[-tail:] if tail else lines
        merged = list(interleave(history))
        for line in merged[-tail:] if tail else merged:
            yield line
