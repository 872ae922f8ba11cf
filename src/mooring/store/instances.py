"""Instances: what runs (or last ran) for each replica slot, and how its driver finds it again."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, delete, select
from sqlalchemy.orm import Session

from mooring.errors import NotFound
from mooring.store.apps import find_app_id, lock_app
from mooring.store.base import StoreBase, check_choice, insert_for
from mooring.store.columns import utcnow
from mooring.store.tables import INSTANCE_DRIVERS, AppRow, InstanceRow


@dataclass(frozen=True, slots=True)
class Instance:
    """A supervised instance; ``info`` holds driver facts, ``ports`` maps port names to host ports."""

    id: str
    app: str
    service: str
    replica: int
    driver: str
    state: str
    release_id: str | None = None
    spec_hash: str | None = None
    health: str | None = None
    pid: int | None = None
    pid_start_time: float | None = None
    cgroup: str | None = None
    container_id: str | None = None
    ports: dict[str, Any] = field(default_factory=dict)
    restarts: int = 0
    exit_code: int | None = None
    last_error: str | None = None
    info: dict[str, Any] = field(default_factory=dict)
    started_at: datetime | None = None
    updated_at: datetime | None = None  # set by the store on every write


class InstanceRepository(StoreBase):
    """Record instances as the runtime starts, observes and stops them."""

    def upsert_instance(self, instance: Instance) -> Instance:
        """Insert or fully overwrite the instance with this id and commit; returns it as stored."""
        check_choice("instance driver", instance.driver, INSTANCE_DRIVERS)
        with self._write(f"record instance {instance.id}") as session:
            # Instance rows carry no per-app sequence, so the app row lock is only needed to create the app.
            app_id = find_app_id(session, instance.app) or lock_app(session, instance.app).id
            now = utcnow()
            values = _values(instance, app_id, now)
            session.execute(
                insert_for(session, InstanceRow)
                .values(id=instance.id, **values)
                .on_conflict_do_update(index_elements=["id"], set_=values)
            )
        # What the database now holds, without reading it back: timestamps come back in UTC.
        started = instance.started_at.astimezone(UTC) if instance.started_at else None
        return replace(
            instance, ports=dict(instance.ports), info=dict(instance.info), started_at=started, updated_at=now
        )

    def write_instances(self, upserts: list[Instance], deletes: list[str]) -> None:
        """Overwrite or insert ``upserts`` and forget ``deletes`` in one transaction (one commit).

        The engine groups the instance changes of one event-loop turn here: at N=500 a row per
        change and a commit each made starting and stopping an app cost seconds.
        """
        check_instances(upserts)
        with self._write(f"record {len(upserts)} instance(s) and forget {len(deletes)}") as session:
            write_instance_rows(session, upserts, deletes)

    def get_instance(self, instance_id: str) -> Instance:
        """The instance with this id; NotFound naming the id otherwise."""
        with self._read(f"read instance {instance_id}") as session:
            result = session.execute(_select().where(InstanceRow.id == instance_id)).one_or_none()
            if result is None:
                raise NotFound(
                    f"no instance with id {instance_id!r}", hint="`mooring ps` lists the running instances"
                )
            return _record(*result)

    def list_instances(self, app: str | None = None) -> list[Instance]:
        """All instances (or one app's), by app, service and replica."""
        with self._read("list instances") as session:
            query = _select()
            if app is not None:
                query = query.where(AppRow.name == app)
            query = query.order_by(AppRow.name, InstanceRow.service, InstanceRow.replica, InstanceRow.id)
            return [_record(row, name) for row, name in session.execute(query)]

    def delete_instance(self, instance_id: str) -> bool:
        """Forget a stopped instance; False if it was already gone."""
        with self._write(f"forget instance {instance_id}") as session:
            result = session.execute(delete(InstanceRow).where(InstanceRow.id == instance_id))
            return bool(getattr(result, "rowcount", 0))


def check_instances(upserts: list[Instance]) -> None:
    """Refuse a driver outside the vocabulary before a transaction is opened."""
    for instance in upserts:
        check_choice("instance driver", instance.driver, INSTANCE_DRIVERS)


def write_instance_rows(session: Session, upserts: list[Instance], deletes: list[str]) -> None:
    """Within the caller's transaction: overwrite or insert ``upserts``, forget ``deletes``."""
    now = utcnow()
    app_ids: dict[str, int] = {}
    for name in {i.app for i in upserts}:
        found = session.connection().execute(_APP_ID, {"name": name}).scalar()
        app_ids[name] = found if found is not None else lock_app(session, name).id
    if upserts:
        session.execute(
            _bulk_upsert(session), [{"id": i.id, **_values(i, app_ids[i.app], now)} for i in upserts]
        )
    for at in range(0, len(deletes), 500):  # within any SQLite's limit on bound parameters
        session.execute(delete(InstanceRow).where(InstanceRow.id.in_(deletes[at : at + 500])))


_BULK_UPSERTS: dict[str, Any] = {}
_APPS = cast(Table, AppRow.__table__)
_INSTANCES = cast(Table, InstanceRow.__table__)
_DELETE = delete(_INSTANCES).where(_INSTANCES.c.id.in_(bindparam("ids", expanding=True)))
_APP_ID = select(_APPS.c.id).where(_APPS.c.name == bindparam("name"))  # Core, built once: every flush asks
_VALUE_COLUMNS = (
    *("app_id", "service", "replica", "release_id", "spec_hash", "driver", "state", "health", "pid"),
    *("pid_start_time", "cgroup", "container_id", "ports", "restarts", "exit_code", "last_error", "info"),
    *("started_at", "updated_at"),
)


def _bulk_upsert(session: Session) -> Any:
    """The executemany upsert of every column, built once per dialect (building it costs ~1 ms)."""
    dialect = session.get_bind().dialect.name
    if dialect not in _BULK_UPSERTS:
        insert = insert_for(session, _INSTANCES)
        columns = _VALUE_COLUMNS  # only what _values writes, as upsert_instance does
        _BULK_UPSERTS[dialect] = insert.on_conflict_do_update(
            index_elements=["id"], set_={c: insert.excluded[c] for c in columns}
        )
    return _BULK_UPSERTS[dialect]


def _values(instance: Instance, app_id: int, now: datetime) -> dict[str, Any]:
    """The row's columns but ``id``, as written on every insert or overwrite."""
    return {
        "app_id": app_id,
        "service": instance.service,
        "replica": instance.replica,
        "release_id": instance.release_id,
        "spec_hash": instance.spec_hash,
        "driver": instance.driver,
        "state": instance.state,
        "health": instance.health,
        "pid": instance.pid,
        "pid_start_time": instance.pid_start_time,
        "cgroup": instance.cgroup,
        "container_id": instance.container_id,
        "ports": dict(instance.ports),
        "restarts": instance.restarts,
        "exit_code": instance.exit_code,
        "last_error": instance.last_error,
        "info": dict(instance.info),
        "started_at": instance.started_at,
        "updated_at": now,
    }


def _select() -> Select[InstanceRow, str]:
    return select(InstanceRow, AppRow.name).join(AppRow, AppRow.id == InstanceRow.app_id)


def _record(row: InstanceRow, app: str) -> Instance:
    return Instance(
        id=row.id,
        app=app,
        service=row.service,
        replica=row.replica,
        driver=row.driver,
        state=row.state,
        release_id=row.release_id,
        spec_hash=row.spec_hash,
        health=row.health,
        pid=row.pid,
        pid_start_time=row.pid_start_time,
        cgroup=row.cgroup,
        container_id=row.container_id,
        ports=row.ports,
        restarts=row.restarts,
        exit_code=row.exit_code,
        last_error=row.last_error,
        info=row.info,
        started_at=row.started_at,
        updated_at=row.updated_at,
    )
