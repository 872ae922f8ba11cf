"""The engine's book of instances: runtime records joined with what the engine adds (ports, probe),
persisted to the store on every change so a restarted engine can adopt them."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mooring.health import ProbeSpec
from mooring.runtime.record import InstanceRecord
from mooring.store import Instance, Store

RETRY = 1.0  # seconds before instance changes the store refused are written again
log = logging.getLogger(__name__)


@dataclass
class BookEntry:
    """One instance as the engine knows it."""

    app: str
    service: str
    replica: int
    release_id: str
    spec_hash: str
    ports: dict[int, int]
    probe: ProbeSpec | None
    record: InstanceRecord | None = None
    driver: str = "process"  # or "container"
    kind: str = "service"  # or "cron"/"worker": a one-shot run, never part of a release's plan


def probe_to_dict(probe: ProbeSpec | None) -> dict[str, Any] | None:
    if probe is None:
        return None
    # Field by field, not ``dataclasses.asdict``: that deep-copies every value, and the env of an
    # exec check is a read-only mapping proxy, which cannot be copied (every record of an
    # exec-checked instance once failed to persist, orphaning it at the next engine restart).
    data: dict[str, Any] = {f.name: getattr(probe, f.name) for f in dataclasses.fields(probe)}
    for key in ("command", "expected_status"):
        if data[key] is not None:
            data[key] = list(data[key])
    data["env"] = dict(probe.env) if probe.env is not None else None
    return data


def probe_from_dict(data: Mapping[str, Any] | None) -> ProbeSpec | None:
    if not data:
        return None
    values = dict(data)
    for key in ("command", "expected_status"):
        if values.get(key) is not None:
            values[key] = tuple(values[key])
    return ProbeSpec(**values)


class InstanceBook:
    """Keeps entries in memory and journals every record change to the store.

    Inside the engine's event loop, the changes of one loop turn are written in one transaction
    (group commit): starting or stopping 500 instances makes a few commits, not 1,500. ``persist``
    returns a future that completes once that transaction has committed; the supervisor awaits it
    before its next side effect, so journal-before-effect holds for every instance.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.entries: dict[str, BookEntry] = {}
        self._pending: dict[str, Instance | None] = {}  # instance id -> row to write, or None to delete
        self._committed: asyncio.Future[None] | None = None

    def add(self, instance_id: str, entry: BookEntry) -> None:
        self.entries[instance_id] = entry

    def persist(self, record: InstanceRecord, health: str | None = None) -> asyncio.Future[None] | None:
        """Journal a runtime record; await the result (if any) before the next side effect."""
        entry = self.entries.get(record.instance_id)
        if entry is None:
            return None
        entry.record = record
        return self._queue(record.instance_id, self.as_row(record.instance_id, entry, health))

    def _queue(self, instance_id: str, row: Instance | None) -> asyncio.Future[None] | None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # outside the engine's loop (start-up, tools): write now
            self._pending[instance_id] = row
            self.flush()
            return None
        self._pending[instance_id] = row  # a later change of the same instance supersedes this one
        if self._committed is None:
            self._committed = loop.create_future()
            loop.call_soon(self.flush)
        return self._committed

    def flush(self) -> None:
        """Write every pending change in one transaction and settle the waiters."""
        pending, self._pending = self._pending, {}
        committed, self._committed = self._committed, None
        try:
            if pending:
                self.store.write_instances(
                    [row for row in pending.values() if row is not None],
                    [iid for iid, row in pending.items() if row is None],
                )
        except Exception as exc:
            if committed is None:
                log.exception("could not record %d instance change(s)", len(pending))
                raise
            # A store outage: the changes are kept and written again shortly; their waiters keep
            # waiting (journal before effect), an instance is never left unrecorded (an orphan later).
            log.error("could not record %d instance change(s), retrying in %gs: %s", len(pending), RETRY, exc)
            for iid, row in pending.items():
                self._pending.setdefault(iid, row)  # a change queued meanwhile is newer
            if self._committed is None:
                self._committed = committed
                asyncio.get_running_loop().call_later(RETRY, self.flush)
            else:  # a flush is already due; settle the older waiters with it
                self._committed.add_done_callback(lambda done: _settle_like(committed, done))
            return
        if committed is not None and not committed.done():
            committed.set_result(None)

    def as_row(self, instance_id: str, entry: BookEntry, health: str | None) -> Instance:
        record = entry.record
        assert record is not None
        started = datetime.fromtimestamp(record.started_at, UTC) if record.started_at else None
        return Instance(
            id=instance_id,
            app=entry.app,
            service=entry.service,
            replica=entry.replica,
            driver=entry.driver,
            state=record.state.value,
            release_id=entry.release_id,
            spec_hash=entry.spec_hash,
            health=health,
            pid=record.pid,
            pid_start_time=float(record.pid_start_ticks) if record.pid_start_ticks is not None else None,
            cgroup=record.cgroup_paths[0] if record.cgroup_paths else None,
            container_id=record.container_id,
            ports={str(k): v for k, v in entry.ports.items()},
            restarts=record.restarts,
            exit_code=record.last_exit_code,
            last_error=record.last_exit_message or None,
            info={"record": record.to_dict(), "probe": probe_to_dict(entry.probe), "kind": entry.kind},
            started_at=started,
        )

    def restore(self, row: Instance) -> tuple[BookEntry, InstanceRecord] | None:
        """Rebuild an entry from a stored row (engine start); None when the row holds no record."""
        record_data = row.info.get("record")
        if not record_data:
            return None
        record = InstanceRecord.from_dict(record_data)
        entry = BookEntry(
            app=row.app,
            service=row.service,
            replica=row.replica,
            release_id=row.release_id or "",
            spec_hash=row.spec_hash or "",
            ports={int(k): int(v) for k, v in row.ports.items()},
            probe=probe_from_dict(row.info.get("probe")),
            record=record,
            driver=row.driver or "process",
            kind=row.info.get("kind") or "service",
        )
        return entry, record

    def of_app(self, app: str) -> dict[str, BookEntry]:
        return {iid: e for iid, e in self.entries.items() if e.app == app}

    def forget(self, instance_id: str) -> None:
        self.entries.pop(instance_id, None)
        self._queue(instance_id, None)


def _settle_like(waiter: asyncio.Future[None], done: asyncio.Future[None]) -> None:
    if waiter.done():
        return
    if done.cancelled() or done.exception() is not None:
        waiter.set_exception(done.exception() or asyncio.CancelledError())
        waiter.exception()
    else:
        waiter.set_result(None)
