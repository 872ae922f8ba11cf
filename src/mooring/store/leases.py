"""Leases: one writer per app. A lease is taken over only once expired, and only by compare-and-swap."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from mooring.errors import LeaseConflict, StoreError
from mooring.store.apps import find_app_id, lock_app
from mooring.store.base import StoreBase
from mooring.store.columns import utcnow
from mooring.store.tables import LeaseRow

RELEASE_ID = re.compile(r"[0-9a-f]{12}")


@dataclass(frozen=True, slots=True)
class Lease:
    """Who holds an app's lease (a release id, usually), from where, and until when."""

    app: str
    holder: str
    host: str
    pid: int
    acquired_at: datetime
    heartbeat_at: datetime
    expires_at: datetime
    pid_start_time: float | None = None

    def expired(self, now: datetime | None = None) -> bool:
        """Whether the holder stopped renewing long enough for another writer to take over."""
        return self.expires_at <= (now or utcnow())


class LeaseRepository(StoreBase):
    """Acquire, renew, release and reclaim per-app leases."""

    def acquire_lease(
        self,
        app: str,
        holder: str,
        host: str,
        pid: int,
        ttl: timedelta,
        now: datetime | None = None,
        pid_start_time: float | None = None,
    ) -> Lease:
        """Take the app's lease if free or expired (the same holder just refreshes it); else LeaseConflict."""
        now = now or utcnow()
        with self._write(f"take the lock on app {app!r}") as session:
            app_id = lock_app(session, app).id
            current = session.get(LeaseRow, app_id)
            if current is None:
                row = LeaseRow(
                    app_id=app_id,
                    holder=holder,
                    host=host,
                    pid=pid,
                    pid_start_time=pid_start_time,
                    acquired_at=now,
                    heartbeat_at=now,
                    expires_at=now + ttl,
                )
                session.add(row)
                session.flush()
                return _record(row, app)
            if current.holder != holder and current.expires_at > now:
                raise _conflict(_record(current, app), now)
            acquired_at = current.acquired_at if current.holder == holder else now
            # Compare-and-swap on what we just read: if anything changed in between, nobody wins twice.
            swapped = session.execute(
                update(LeaseRow)
                .where(
                    LeaseRow.app_id == app_id,
                    LeaseRow.holder == current.holder,
                    LeaseRow.expires_at == current.expires_at,
                )
                .values(
                    holder=holder,
                    host=host,
                    pid=pid,
                    pid_start_time=pid_start_time,
                    acquired_at=acquired_at,
                    heartbeat_at=now,
                    expires_at=now + ttl,
                )
                .execution_options(synchronize_session=False)
            )
            if getattr(swapped, "rowcount", 0) != 1:
                session.expire_all()
                raise _conflict(_reload(session, app_id, app), now)
            return Lease(app, holder, host, pid, acquired_at, now, now + ttl, pid_start_time)

    def renew_lease(self, app: str, holder: str, ttl: timedelta, now: datetime | None = None) -> Lease:
        """Extend the holder's lease; LeaseConflict if it was lost (taken over, released or broken)."""
        now = now or utcnow()
        with self._write(f"renew the lock on app {app!r}") as session:
            app_id = find_app_id(session, app)
            row = session.get(LeaseRow, app_id, with_for_update=True) if app_id is not None else None
            if row is None or row.holder != holder:
                raise _lost(app, holder, _record(row, app) if row is not None else None)
            row.heartbeat_at = now
            row.expires_at = now + ttl
            session.flush()
            return _record(row, app)

    def release_lease(self, app: str, holder: str) -> bool:
        """Give the lease up; only its holder can, anyone else changes nothing and gets False."""
        with self._write(f"release the lock on app {app!r}") as session:
            return _delete_if_held(session, app, holder)

    def break_lease(self, app: str, expected_holder: str) -> bool:
        """Reclaim the lease of a holder known to be dead, even unexpired; False if someone else holds it."""
        with self._write(f"break the lock on app {app!r}") as session:
            return _delete_if_held(session, app, expected_holder)

    def current_lease(self, app: str) -> Lease | None:
        """The app's lease as recorded, expired or not; None if nobody holds it."""
        with self._read(f"read the lock on app {app!r}") as session:
            app_id = find_app_id(session, app)
            row = session.get(LeaseRow, app_id) if app_id is not None else None
            return _record(row, app) if row is not None else None


def _delete_if_held(session: Session, app: str, holder: str) -> bool:
    app_id = find_app_id(session, app)
    if app_id is None:
        return False
    result = session.execute(delete(LeaseRow).where(LeaseRow.app_id == app_id, LeaseRow.holder == holder))
    return bool(getattr(result, "rowcount", 0))


def _reload(session: Session, app_id: int, app: str) -> Lease:
    row = session.scalars(select(LeaseRow).where(LeaseRow.app_id == app_id)).one_or_none()
    if row is None:
        raise StoreError(f"the lock on app {app!r} changed while it was being taken; try again")
    return _record(row, app)


def _who(holder: str) -> str:
    """How to name a holder to an operator: a bare release id reads better as "release <id>"."""
    return f"release {holder}" if RELEASE_ID.fullmatch(holder) else holder


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _conflict(lease: Lease, now: datetime) -> LeaseConflict:
    """The error a second writer sees: who holds the app, since when, and what to do about it."""
    remaining = max(0, int((lease.expires_at - now).total_seconds()))
    return LeaseConflict(
        f"app {lease.app!r} is locked by {_who(lease.holder)} on host {lease.host} (pid {lease.pid}) "
        f"since {_when(lease.acquired_at)}",
        hint=f"wait for it with `--wait-lock DURATION`; if that holder is gone, its lock expires at "
        f"{_when(lease.expires_at)} (in {remaining}s)",
    )


def _lost(app: str, holder: str, now_held: Lease | None) -> LeaseConflict:
    """The error a holder sees when renewing a lease it no longer has: it must stop writing."""
    if now_held is None:
        detail = "nobody holds it now (it was released or broken)"
    else:
        detail = (
            f"it is now held by {_who(now_held.holder)} on host {now_held.host} (pid {now_held.pid}) "
            f"since {_when(now_held.acquired_at)}"
        )
    return LeaseConflict(
        f"{_who(holder)} lost the lock on app {app!r}: {detail}",
        hint="the lock expired before it was renewed; check whether the engine was stalled or suspended",
    )


def _record(row: LeaseRow, app: str) -> Lease:
    return Lease(
        app=app,
        holder=row.holder,
        host=row.host,
        pid=row.pid,
        acquired_at=row.acquired_at,
        heartbeat_at=row.heartbeat_at,
        expires_at=row.expires_at,
        pid_start_time=row.pid_start_time,
    )
