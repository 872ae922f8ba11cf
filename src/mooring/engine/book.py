"""The engine's book of instances: runtime records joined with what the engine adds (ports, probe),
persisted to the store on every change so a restarted engine can adopt them."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mooring.engine.log_catalog import LogCatalog, LogMeta
from mooring.health import ProbeSpec
from mooring.masking import masker
from mooring.runtime.record import InstanceRecord
from mooring.store import Instance, Store

RETRY = 1.0  # seconds before instance changes the store refused are written again
LATER = 0.05  # seconds within which a change nobody waits for is written, when no commit takes it sooner
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

    A change that only records what already happened (``urgent=False``: a process runs, has ended,
    was forgotten) precedes no side effect of its own: nobody waits for it, and it rides on the next
    commit, the book's or the release journal's (``flush(write=...)``, engine/journal.py), or is
    written within ``LATER`` seconds. Every side effect still follows the commit of every change
    queued before it, since a commit takes all that is queued.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.entries: dict[str, BookEntry] = {}
        self.on_forget: Callable[[str], None] | None = None  # e.g. remove the instance's secret files
        self._pending: dict[str, Instance | None] = {}  # instance id -> row to write, or None to delete
        self._committed: asyncio.Future[None] | None = None
        self._later: asyncio.TimerHandle | None = None  # the flush of changes nobody waits for
        self._sealed_cache: dict[tuple[str, str], tuple[Any, str]] = {}  # (what, id) -> (source, sealed env)
        self.catalog: LogCatalog | None = None  # logs of every process instance ever run

    def add(self, instance_id: str, entry: BookEntry) -> None:
        self.entries[instance_id] = entry
        if self.catalog is not None and entry.driver == "process":
            started = entry.record.started_at if entry.record and entry.record.started_at else time.time()
            meta = LogMeta(
                instance_id, entry.app, entry.service, entry.replica, entry.release_id, entry.kind, started
            )
            self.catalog.started(meta)

    def persist(
        self, record: InstanceRecord, health: str | None = None, *, urgent: bool = True
    ) -> asyncio.Future[None] | None:
        """Journal a runtime record; await the result (if any) before the next side effect."""
        entry = self.entries.get(record.instance_id)
        if entry is None:
            return None
        entry.record = record
        return self._queue(record.instance_id, self.as_row(record.instance_id, entry, health), urgent)

    def _queue(
        self, instance_id: str, row: Instance | None, urgent: bool = True
    ) -> asyncio.Future[None] | None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # outside the engine's loop (start-up, tools): write now
            self._pending[instance_id] = row
            self.flush()
            return None
        self._pending[instance_id] = row  # a later change of the same instance supersedes this one
        if not urgent:
            if self._committed is None and self._later is None:
                self._later = loop.call_later(LATER, self.flush)
            return None
        if self._committed is None:
            self._committed = loop.create_future()
            loop.call_soon(self.flush)
        return self._committed

    @property
    def pending(self) -> bool:
        return bool(self._pending)

    def flush(self, write: Callable[[list[Instance], list[str]], None] | None = None) -> None:
        """Write every pending change in one transaction and settle the waiters.

        ``write(upserts, deletes)``, when given, writes them instead of the book, within a
        transaction of its own making (the release journal's commit of the same turn); what it
        raises is raised here, after the changes were queued again.
        """
        pending, self._pending = self._pending, {}
        committed, self._committed = self._committed, None
        if self._later is not None:
            self._later.cancel()
            self._later = None
        upserts = [row for row in pending.values() if row is not None]
        deletes = [iid for iid, row in pending.items() if row is None]
        try:
            if write is not None:
                write(upserts, deletes)
            elif pending:
                self.store.write_instances(upserts, deletes)
        except Exception as exc:
            if committed is None and write is None:
                log.exception("could not record %d instance change(s)", len(pending))
                raise
            if pending:
                self._retry(pending, committed, exc)
            elif committed is not None:  # nothing of the book's was in it: its waiters are not concerned
                committed.set_result(None)
            if write is not None:
                raise
            return
        if committed is not None and not committed.done():
            committed.set_result(None)

    def _retry(
        self, pending: dict[str, Instance | None], committed: asyncio.Future[None] | None, exc: Exception
    ) -> None:
        # A store outage: the changes are kept and written again shortly; their waiters keep
        # waiting (journal before effect), an instance is never left unrecorded (an orphan later).
        log.error("could not record %d instance change(s), retrying in %gs: %s", len(pending), RETRY, exc)
        for iid, row in pending.items():
            self._pending.setdefault(iid, row)  # a change queued meanwhile is newer
        loop = asyncio.get_running_loop()
        if committed is None:
            if self._committed is None and self._later is None:
                self._later = loop.call_later(RETRY, self.flush)
        elif self._committed is None:
            self._committed = committed
            loop.call_later(RETRY, self.flush)
        else:  # a flush is already due; settle the older waiters with it
            self._committed.add_done_callback(lambda done: _settle_like(committed, done))

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
            last_error=masker.mask(record.last_exit_message) or None,
            info={
                "record": {**record_dict(record), "spec": self._sealed("spec", instance_id, record.spec)},
                "probe": self._sealed("probe", instance_id, entry.probe),
                "kind": entry.kind,
            },
            started_at=started,
        )

    def restore(self, row: Instance) -> tuple[BookEntry, InstanceRecord] | None:
        """Rebuild an entry from a stored row (engine start); None when the row holds no record."""
        record_data = row.info.get("record")
        if not record_data:
            return None
        record = InstanceRecord.from_dict(self._opened_record(row.id, record_data))
        entry = BookEntry(
            app=row.app,
            service=row.service,
            replica=row.replica,
            release_id=row.release_id or "",
            spec_hash=row.spec_hash or "",
            ports={int(k): int(v) for k, v in row.ports.items()},
            probe=probe_from_dict(self._open(row.id, "probe", row.info.get("probe"))),
            record=record,
            driver=row.driver or "process",
            kind=row.info.get("kind") or "service",
        )
        return entry, record

    # An instance's env holds its secrets: it is written to the store only encrypted (store/keyring.py),
    # bound to the instance id, and decrypted when a restarted engine adopts the instance.

    def _open(self, instance_id: str, what: str, data: dict[str, Any] | None) -> dict[str, Any] | None:
        if data is None or "env_sealed" not in data:
            return data
        opened = {k: v for k, v in data.items() if k != "env_sealed"}
        opened["env"] = self.store.open_env(instance_id, what, data["env_sealed"])
        return opened

    def _sealed(self, what: str, instance_id: str, source: Any) -> dict[str, Any] | None:
        """The spec (a dict) or probe as stored, its env sealed once per instance: a record is
        replaced at each change but keeps its spec, and sealing anew at every change was ~5 % of
        stopping 500. Only the sealed text is kept (memory per instance)."""
        data = dict(source) if what == "spec" else probe_to_dict(source)
        if data is None or data.get("env") is None:
            return data
        key = (what, instance_id)
        known = self._sealed_cache.get(key)
        if known is None or known[0] is not source:
            known = self._sealed_cache[key] = (
                source,
                self.store.seal_env(instance_id, what, dict(data["env"])),
            )
        sealed = {k: v for k, v in data.items() if k != "env"}
        sealed["env_sealed"] = known[1]
        return sealed

    def _opened_record(self, instance_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
        return {**data, "spec": self._open(instance_id, "spec", dict(data["spec"]))}

    def of_app(self, app: str) -> dict[str, BookEntry]:
        return {iid: e for iid, e in self.entries.items() if e.app == app}

    def forget(self, instance_id: str) -> None:
        entry = self.entries.pop(instance_id, None)
        self._sealed_cache.pop(("spec", instance_id), None)
        self._sealed_cache.pop(("probe", instance_id), None)
        if self.on_forget is not None:
            self.on_forget(instance_id)
        self._queue(
            instance_id, None, urgent=False
        )  # the instance is gone already: a fact, no effect follows
        if self.catalog is not None and entry is not None and entry.driver == "process":
            try:
                self.catalog.ended(instance_id)
            except OSError:
                log.warning("log retention after %s failed", instance_id, exc_info=True)


_RECORD_FIELDS = tuple(f.name for f in dataclasses.fields(InstanceRecord))


def record_dict(record: InstanceRecord) -> dict[str, Any]:
    """``record.to_dict()`` without ``dataclasses.asdict``, whose deep copy of every value was ~5 %
    of starting 500 instances: the record is replaced, never changed in place, so a shallow copy of
    its containers is enough (the row is serialized at the commit)."""
    data = {name: getattr(record, name) for name in _RECORD_FIELDS}
    data["state"] = record.state.value
    data["last_exit_reason"] = record.last_exit_reason.value if record.last_exit_reason else None
    for name, value in data.items():
        if isinstance(value, list):
            data[name] = list(value)
        elif isinstance(value, dict):
            data[name] = dict(value)
    return data


def _settle_like(waiter: asyncio.Future[None], done: asyncio.Future[None]) -> None:
    if waiter.done():
        return
    if done.cancelled() or done.exception() is not None:
        waiter.set_exception(done.exception() or asyncio.CancelledError())
        waiter.exception()
    else:
        waiter.set_result(None)
