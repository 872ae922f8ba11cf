"""Leader election among engines sharing one PostgreSQL database: the database's lock, no consensus of ours.

The leader is the engine holding a PostgreSQL advisory lock (``pg_try_advisory_lock``) on a session
of its own. The session sets ``idle_session_timeout`` to the lease and the leader runs a heartbeat
on it three times per lease, so the server itself ends the session, and frees the lock, of a leader
that died (kill -9: at once, the socket closes), was paused (SIGSTOP) or lost its network. Whoever
takes the lock next increments the cluster's fencing epoch in ``leadership`` (under ``FOR UPDATE``,
which waits for writes in flight under the old epoch) and every write of the store checks that
epoch in its own transaction (store/fence.py).

All of it runs in one thread with its own connection: a busy event loop can neither delay the
heartbeat nor be blocked by a takeover waiting on a lock.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, event, select

from mooring.store.columns import utcnow
from mooring.store.fence import Fence
from mooring.store.tables import EngineRow, LeadershipRow

log = logging.getLogger("mooring.store")

# The advisory lock's first key ("moor"); the second is hashtext(cluster). The two-key space does
# not overlap the one-key space of the migration lock.
LOCK_CLASS = 0x6D6F6F72
DEFAULT_LEASE = 3.0
# Engines not seen for this many leases are dropped from the list by the next leader.
FORGET_AFTER_LEASES = 100


@dataclass(frozen=True, slots=True)
class Member:
    """One engine of a cluster as it reports itself."""

    id: str
    host: str
    pid: int
    home: str
    address: str | None
    version: str
    started_at: datetime | None = None
    seen_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Reign:
    """Who leads the cluster, since when, with which epoch."""

    cluster: str
    epoch: int
    leader: str
    address: str | None
    since: datetime
    renewed_at: datetime


def new_engine_id() -> str:
    return uuid.uuid4().hex[:12]


class Leadership:
    """This engine's candidacy: follow until the lock is free, then lead until the session is lost.

    ``on_won(epoch)`` is called once, from the election thread, when this engine leads;
    ``on_lost(reason)`` when a leader finds its session or its epoch gone: it must stop acting.
    """

    def __init__(
        self,
        engine: Engine,
        fence: Fence,
        me: Member,
        *,
        lease: float = DEFAULT_LEASE,
        on_won: Callable[[int], None],
        on_lost: Callable[[str], None],
    ) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError("leader election needs PostgreSQL")
        self.engine = engine
        self.fence = fence
        self.me = me
        self.lease = lease
        self.on_won = on_won
        self.on_lost = on_lost
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: Any = None  # the psycopg connection whose session holds the lock

    @property
    def cluster(self) -> str:
        return self.fence.cluster

    @property
    def leading(self) -> bool:
        return self.fence.epoch is not None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="leadership", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop campaigning; closing the session frees the lock for a follower at once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.lease * 2)
        self._close()
        try:
            with self.engine.begin() as connection:
                connection.execute(delete(EngineRow).where(EngineRow.id == self.me.id))
        except Exception:  # the database is gone: the row ages out
            log.debug("could not remove engine %s from the list", self.me.id, exc_info=True)

    # --- the thread -------------------------------------------------------------------------

    def _run(self) -> None:
        beat = self.lease / 3
        poll = min(beat, 0.5)  # a follower looks for a free lock often: a takeover within a second
        while not self._stop.is_set():
            try:
                if self._conn is None:
                    self._conn = self._connect()
                if self.fence.epoch is None:
                    self._see_me()
                    if self._try_lock():
                        epoch = self._take_over()
                        self.fence.epoch = epoch
                        log.warning("engine %s leads cluster %r (epoch %d)", self.me.id, self.cluster, epoch)
                        self.on_won(epoch)
                else:
                    self._renew()
            except _Lost as lost:
                self._close()
                self.on_lost(str(lost))
                return
            except Exception as exc:
                self._close()
                if self._stop.is_set():  # stopping: the session was closed under us
                    return
                if self.fence.epoch is not None:
                    # The session may be gone and the lock with it: another engine may lead now.
                    self.on_lost(f"the leader's database session failed: {_first_line(exc)}")
                    return
                log.warning("leader election: %s; retrying", _first_line(exc))
            self._stop.wait(beat if self.fence.epoch is not None else poll)

    def _connect(self) -> Any:
        """A connection of its own, outside the pool: its session is the lock's life."""
        cargs, cparams = self.engine.dialect.create_connect_args(self.engine.url)
        conn = self.engine.dialect.connect(*cargs, **cparams)
        conn.autocommit = True
        ms = int(self.lease * 1000)
        # The server ends this session when its engine stops talking for a lease (paused, cut off,
        # dead): that is what frees the lock, not our own judgement.
        conn.execute(f"SET idle_session_timeout = {ms}")
        conn.execute("SELECT set_config('application_name', %s, false)", (f"mooring engine {self.me.id}",))
        return conn

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                log.debug("closing the leadership session", exc_info=True)

    def _try_lock(self) -> bool:
        row = self._conn.execute(
            "SELECT pg_try_advisory_lock(%s, hashtext(%s))", (LOCK_CLASS, self.cluster)
        ).fetchone()
        return bool(row[0])

    def _see_me(self) -> None:
        """Upsert this engine's row: ``engine status`` lists who is there and when each was last seen."""
        m = self.me
        self._conn.execute(
            "INSERT INTO engines (id, cluster, host, pid, home, address, version, started_at, seen_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, now(), now())"
            " ON CONFLICT (id) DO UPDATE SET seen_at = now(), address = EXCLUDED.address",
            (m.id, self.cluster, m.host, m.pid, m.home, m.address, m.version),
        )

    def _take_over(self) -> int:
        """Bump the epoch: FOR UPDATE waits for any write still in flight under the old one."""
        with self._conn.transaction():
            row = self._conn.execute(
                "SELECT epoch FROM leadership WHERE cluster = %s FOR UPDATE", (self.cluster,)
            ).fetchone()
            if row is None:
                self._conn.execute(
                    "INSERT INTO leadership (cluster, epoch, leader, address, since, renewed_at)"
                    " VALUES (%s, 1, %s, %s, now(), now())",
                    (self.cluster, self.me.id, self.me.address),
                )
                epoch = 1
            else:
                epoch = int(row[0]) + 1
                self._conn.execute(
                    "UPDATE leadership SET epoch = %s, leader = %s, address = %s, since = now(),"
                    " renewed_at = now() WHERE cluster = %s",
                    (epoch, self.me.id, self.me.address, self.cluster),
                )
            self._conn.execute(
                "DELETE FROM engines WHERE cluster = %s AND seen_at < now() - make_interval(secs => %s)",
                (self.cluster, self.lease * FORGET_AFTER_LEASES),
            )
        self._see_me()
        return epoch

    def _renew(self) -> None:
        cur = self._conn.execute(
            "UPDATE leadership SET renewed_at = now() WHERE cluster = %s AND epoch = %s AND leader = %s",
            (self.cluster, self.fence.epoch, self.me.id),
        )
        if cur.rowcount != 1:
            raise _Lost(f"epoch {self.fence.epoch} of cluster {self.cluster!r} is no longer the current one")
        self._see_me()


class _Lost(Exception):
    """This leader's epoch is over."""


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def read_cluster(
    engine: Engine, cluster: str, lease: float = DEFAULT_LEASE
) -> tuple[Reign | None, list[Member]]:
    """Who leads ``cluster`` and the engines seen recently, for ``mooring engine status``."""
    with engine.connect() as connection:
        row = connection.execute(select(LeadershipRow).where(LeadershipRow.cluster == cluster)).first()
        since = utcnow() - timedelta(seconds=lease * FORGET_AFTER_LEASES)
        engines = connection.execute(
            select(EngineRow)
            .where(EngineRow.cluster == cluster, EngineRow.seen_at >= since)
            .order_by(EngineRow.started_at)
        ).all()
    reign = Reign(row.cluster, row.epoch, row.leader, row.address, row.since, row.renewed_at) if row else None
    members = [
        Member(e.id, e.host, e.pid, e.home, e.address, e.version, e.started_at, e.seen_at) for e in engines
    ]
    return reign, members


def bound_idle_transactions(engine: Engine, seconds: float) -> None:
    """End any pooled session that sits in an open transaction for ``seconds``.

    A leader paused in the middle of a write holds its fence row lock (FOR KEY SHARE); the next
    leader's FOR UPDATE waits for it, and this bounds that wait.
    """

    def _set(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"SET SESSION idle_in_transaction_session_timeout = {int(seconds * 1000)}")
        finally:
            cursor.close()
        dbapi_connection.commit()  # SQLAlchemy rolls back on check-in; the SET must stay

    event.listen(engine, "connect", _set)
    engine.dispose()  # connections opened before (the migration's) come back with the setting
