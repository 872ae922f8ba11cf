"""The tables of mooring's state, as SQLAlchemy declarative models.

The vocabularies below are persisted and checked by the database; adding a value needs a migration.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from mooring.store.columns import UTCDateTime, json_column
from mooring.vocabulary import Action, Control, ReleaseStatus, TargetState, Trigger, values

# Derived from the one vocabulary (mooring/vocabulary.py); the migrations keep frozen copies.
RELEASE_STATUSES = values(ReleaseStatus)
RELEASE_CONTROLS = values(Control)
RELEASE_TRIGGERS = values(Trigger)
RELEASE_SCOPES = ("fresh", "replacement")
TARGET_ACTIONS = values(Action)
TARGET_STATES = values(TargetState)
INSTANCE_DRIVERS = ("process", "container", "swarm")
TOKEN_SCOPES = ("read", "write", "admin", "custom")

# Stable constraint names, so later migrations (and SQLite batch mode) can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Events can outgrow 32 bits; SQLite only auto-increments an INTEGER PRIMARY KEY, not a BIGINT one.
AutoId = BigInteger().with_variant(Integer(), "sqlite")


def one_of(column: str, values: tuple[str, ...]) -> str:
    """SQL for a CHECK that ``column`` holds one of ``values``."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}  # noqa: RUF012


class AppRow(Base):
    """An application, created by its first apply."""

    __tablename__ = "apps"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ReleaseRow(Base):
    """An immutable snapshot of an app and the recorded outcome of rolling it out."""

    __tablename__ = "releases"
    __table_args__ = (
        UniqueConstraint("app_id", "number"),
        CheckConstraint(one_of("status", RELEASE_STATUSES), name="status"),
        CheckConstraint(one_of("control", RELEASE_CONTROLS), name="control"),
        CheckConstraint(one_of("trigger", RELEASE_TRIGGERS), name="trigger"),
        CheckConstraint(f"scope IS NULL OR {one_of('scope', RELEASE_SCOPES)}", name="scope"),
        Index(None, "status"),
    )

    id: Mapped[str] = mapped_column(String(12), primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id"))
    number: Mapped[int]
    snapshot: Mapped[str] = mapped_column(Text)
    manifest_hash: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(32))
    control: Mapped[str] = mapped_column(String(32))
    trigger: Mapped[str] = mapped_column(String(16))
    source_release_id: Mapped[str | None] = mapped_column(String(12), ForeignKey("releases.id"))
    superseded_by: Mapped[str | None] = mapped_column(String(12), ForeignKey("releases.id"))
    resumed_count: Mapped[int] = mapped_column(default=0)
    scope: Mapped[str | None] = mapped_column(String(16))
    service_filter: Mapped[list[str] | None] = mapped_column(json_column())
    message: Mapped[str] = mapped_column(Text, default="")
    targets_total: Mapped[int] = mapped_column(default=0)
    targets_ready: Mapped[int] = mapped_column(default=0)
    targets_failed: Mapped[int] = mapped_column(default=0)
    targets_unchanged: Mapped[int] = mapped_column(default=0)
    targets_removed: Mapped[int] = mapped_column(default=0)
    targets_pending: Mapped[int] = mapped_column(default=0)
    failure: Mapped[dict[str, Any] | None] = mapped_column(json_column())
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class TargetRow(Base):
    """One replica slot of a service in a release, and how far its cutover got."""

    __tablename__ = "targets"
    __table_args__ = (
        UniqueConstraint("release_id", "service", "replica"),
        CheckConstraint(one_of("action", TARGET_ACTIONS), name="action"),
        CheckConstraint(one_of("state", TARGET_STATES), name="state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    release_id: Mapped[str] = mapped_column(String(12), ForeignKey("releases.id"))
    service: Mapped[str] = mapped_column(String(200))
    replica: Mapped[int]
    action: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text, default="")
    batch: Mapped[int]
    from_spec_hash: Mapped[str | None] = mapped_column(String(100))
    to_spec_hash: Mapped[str | None] = mapped_column(String(100))
    instance_id: Mapped[str | None] = mapped_column(String(200))
    previous_instance_id: Mapped[str | None] = mapped_column(String(200))
    from_release_id: Mapped[str | None] = mapped_column(String(12))
    updated_at: Mapped[datetime]


class EventRow(Base):
    """An append-only record of one transition, numbered per app and per release without gaps."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("app_id", "app_seq"),
        UniqueConstraint("release_id", "release_seq"),
        CheckConstraint("(release_id IS NULL) = (release_seq IS NULL)", name="release_seq"),
    )

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id"))
    app_seq: Mapped[int] = mapped_column(BigInteger)
    release_id: Mapped[str | None] = mapped_column(String(12), ForeignKey("releases.id"))
    release_seq: Mapped[int | None]
    type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(json_column())
    created_at: Mapped[datetime]
    # the fencing epoch of the leader that wrote it (engines sharing PostgreSQL); None on one engine
    epoch: Mapped[int | None] = mapped_column(BigInteger)


class InstanceRow(Base):
    """A running (or last seen) instance of a service, with the facts its driver needs to find it."""

    __tablename__ = "instances"
    __table_args__ = (
        CheckConstraint(one_of("driver", INSTANCE_DRIVERS), name="driver"),
        Index(None, "app_id", "service", "replica"),
    )

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id"))
    service: Mapped[str] = mapped_column(String(200))
    replica: Mapped[int]
    release_id: Mapped[str | None] = mapped_column(String(12), ForeignKey("releases.id"))
    spec_hash: Mapped[str | None] = mapped_column(String(100))
    driver: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(32))
    health: Mapped[str | None] = mapped_column(String(32))
    pid: Mapped[int | None]
    pid_start_time: Mapped[float | None] = mapped_column(Double)
    cgroup: Mapped[str | None] = mapped_column(Text)
    container_id: Mapped[str | None] = mapped_column(String(128))
    ports: Mapped[dict[str, Any]] = mapped_column(json_column())
    restarts: Mapped[int] = mapped_column(default=0)
    exit_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    info: Mapped[dict[str, Any]] = mapped_column(json_column())
    started_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class LeaseRow(Base):
    """Who may write to an app right now: one row per app, taken over only once expired."""

    __tablename__ = "leases"

    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id"), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int]
    # the holder process's start time (seconds since the epoch): a pid alone can be reused
    pid_start_time: Mapped[float | None] = mapped_column(Double)
    acquired_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class SecretValueRow(Base):
    """A secret-looking env value of a manifest, addressed by the fingerprint that snapshots carry.

    ``value`` is AES-256-GCM ciphertext (store/keyring.py), the fingerprint bound as associated data.
    """

    __tablename__ = "secret_values"

    fingerprint: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class SecretVersionRow(Base):
    """One version of a named secret of an app (``mooring secret set``), encrypted; versions are kept."""

    __tablename__ = "secret_versions"
    __table_args__ = (UniqueConstraint("app_id", "name", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id"))
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int]
    ciphertext: Mapped[str] = mapped_column(Text)
    key_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))


class AuditRow(Base):
    """Who changed what through the API, and how it ended: append-only (triggers refuse the rest)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index(None, "app"), Index(None, "at"))

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(200))
    app: Mapped[str | None] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(32))
    status: Mapped[int | None]
    detail: Mapped[str] = mapped_column(Text, default="")


class SettingRow(Base):
    """An install-wide setting, such as a random key generated on first use."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class ApiTokenRow(Base):
    """A bearer token of the engine's TCP listener: only the sha256 of its secret is kept."""

    __tablename__ = "api_tokens"
    __table_args__ = (CheckConstraint(one_of("scope", TOKEN_SCOPES), name="scope"),)

    id: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    scope: Mapped[str] = mapped_column(String(16))
    secret_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    # per-resource scopes (api/scopes.py); NULL for a token made before them: derived from ``scope``
    scopes: Mapped[list[str] | None] = mapped_column(json_column())
    apps: Mapped[list[str] | None] = mapped_column(json_column())
    expires_at: Mapped[datetime | None]


class LeadershipRow(Base):
    """Who leads a cluster of engines sharing this database, and the fencing epoch of that reign.

    The leader holds a PostgreSQL advisory lock on a live session; each new leader increments
    ``epoch`` and every journal write checks it in its own transaction (store/fence.py).
    """

    __tablename__ = "leadership"

    cluster: Mapped[str] = mapped_column(String(200), primary_key=True)
    epoch: Mapped[int] = mapped_column(BigInteger)
    leader: Mapped[str] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(String(400))
    since: Mapped[datetime]
    renewed_at: Mapped[datetime]


class EngineRow(Base):
    """An engine of a cluster, as it last reported itself (``mooring engine status`` lists them)."""

    __tablename__ = "engines"
    __table_args__ = (Index(None, "cluster"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    cluster: Mapped[str] = mapped_column(String(200))
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int]
    home: Mapped[str] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(String(400))
    version: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime]
    seen_at: Mapped[datetime]
