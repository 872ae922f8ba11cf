"""Initial schema: apps, releases, targets, events, instances, leases, secret values, settings.

Revision ID: 0001
Revises:
Create Date: 2025-11-26
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the vocabularies at this revision; later changes come with their own migration.
RELEASE_STATUSES = (
    "pending",
    "in_progress",
    "completed",
    "partially_failed",
    "failed",
    "rolled_back",
    "cancelled",
    "superseded",
)
RELEASE_CONTROLS = ("active", "paused", "cancel_requested")
RELEASE_TRIGGERS = ("apply", "rollback")
RELEASE_SCOPES = ("fresh", "replacement")
TARGET_ACTIONS = ("create", "replace", "unchanged", "remove")
TARGET_STATES = ("pending", "starting", "ready", "failed", "rolled_back", "skipped", "removed")
INSTANCE_DRIVERS = ("process", "container")

AUTO_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def ts(name: str, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "apps",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        ts("created_at"),
        ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_apps"),
        sa.UniqueConstraint("name", name="uq_apps_name"),
    )
    op.create_table(
        "releases",
        sa.Column("id", sa.String(12), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("snapshot", sa.Text(), nullable=False),
        sa.Column("manifest_hash", sa.String(100), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("control", sa.String(32), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("source_release_id", sa.String(12), nullable=True),
        sa.Column("superseded_by", sa.String(12), nullable=True),
        sa.Column("resumed_count", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(16), nullable=True),
        sa.Column("service_filter", sa.JSON(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("targets_total", sa.Integer(), nullable=False),
        sa.Column("targets_ready", sa.Integer(), nullable=False),
        sa.Column("targets_failed", sa.Integer(), nullable=False),
        sa.Column("targets_unchanged", sa.Integer(), nullable=False),
        sa.Column("targets_removed", sa.Integer(), nullable=False),
        sa.Column("targets_pending", sa.Integer(), nullable=False),
        sa.Column("failure", sa.JSON(), nullable=True),
        ts("created_at"),
        ts("started_at", nullable=True),
        ts("finished_at", nullable=True),
        ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_releases"),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], name="fk_releases_app_id_apps"),
        sa.ForeignKeyConstraint(
            ["source_release_id"], ["releases.id"], name="fk_releases_source_release_id_releases"
        ),
        sa.ForeignKeyConstraint(
            ["superseded_by"], ["releases.id"], name="fk_releases_superseded_by_releases"
        ),
        sa.UniqueConstraint("app_id", "number", name="uq_releases_app_id_number"),
        sa.CheckConstraint(one_of("status", RELEASE_STATUSES), name="ck_releases_status"),
        sa.CheckConstraint(one_of("control", RELEASE_CONTROLS), name="ck_releases_control"),
        sa.CheckConstraint(one_of("trigger", RELEASE_TRIGGERS), name="ck_releases_trigger"),
        sa.CheckConstraint(f"scope IS NULL OR {one_of('scope', RELEASE_SCOPES)}", name="ck_releases_scope"),
    )
    op.create_index("ix_releases_status", "releases", ["status"])
    op.create_table(
        "targets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("release_id", sa.String(12), nullable=False),
        sa.Column("service", sa.String(200), nullable=False),
        sa.Column("replica", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("batch", sa.Integer(), nullable=False),
        sa.Column("from_spec_hash", sa.String(100), nullable=True),
        sa.Column("to_spec_hash", sa.String(100), nullable=True),
        sa.Column("instance_id", sa.String(200), nullable=True),
        sa.Column("previous_instance_id", sa.String(200), nullable=True),
        ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_targets"),
        sa.ForeignKeyConstraint(["release_id"], ["releases.id"], name="fk_targets_release_id_releases"),
        sa.UniqueConstraint("release_id", "service", "replica", name="uq_targets_release_id_service_replica"),
        sa.CheckConstraint(one_of("action", TARGET_ACTIONS), name="ck_targets_action"),
        sa.CheckConstraint(one_of("state", TARGET_STATES), name="ck_targets_state"),
    )
    op.create_table(
        "events",
        sa.Column("id", AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("app_seq", sa.BigInteger(), nullable=False),
        sa.Column("release_id", sa.String(12), nullable=True),
        sa.Column("release_seq", sa.Integer(), nullable=True),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], name="fk_events_app_id_apps"),
        sa.ForeignKeyConstraint(["release_id"], ["releases.id"], name="fk_events_release_id_releases"),
        sa.UniqueConstraint("app_id", "app_seq", name="uq_events_app_id_app_seq"),
        sa.UniqueConstraint("release_id", "release_seq", name="uq_events_release_id_release_seq"),
        sa.CheckConstraint("(release_id IS NULL) = (release_seq IS NULL)", name="ck_events_release_seq"),
    )
    op.create_table(
        "instances",
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("service", sa.String(200), nullable=False),
        sa.Column("replica", sa.Integer(), nullable=False),
        sa.Column("release_id", sa.String(12), nullable=True),
        sa.Column("spec_hash", sa.String(100), nullable=True),
        sa.Column("driver", sa.String(16), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("health", sa.String(32), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("pid_start_time", sa.Double(), nullable=True),
        sa.Column("cgroup", sa.Text(), nullable=True),
        sa.Column("container_id", sa.String(128), nullable=True),
        sa.Column("ports", sa.JSON(), nullable=False),
        sa.Column("restarts", sa.Integer(), nullable=False),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("info", sa.JSON(), nullable=False),
        ts("started_at", nullable=True),
        ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_instances"),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], name="fk_instances_app_id_apps"),
        sa.ForeignKeyConstraint(["release_id"], ["releases.id"], name="fk_instances_release_id_releases"),
        sa.CheckConstraint(one_of("driver", INSTANCE_DRIVERS), name="ck_instances_driver"),
    )
    op.create_index("ix_instances_app_id_service_replica", "instances", ["app_id", "service", "replica"])
    op.create_table(
        "leases",
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        ts("acquired_at"),
        ts("heartbeat_at"),
        ts("expires_at"),
        sa.PrimaryKeyConstraint("app_id", name="pk_leases"),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], name="fk_leases_app_id_apps"),
    )
    op.create_table(
        "secret_values",
        sa.Column("fingerprint", sa.String(128), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        ts("created_at"),
        sa.PrimaryKeyConstraint("fingerprint", name="pk_secret_values"),
    )
    op.create_table(
        "settings",
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_settings"),
    )


def downgrade() -> None:
    for table in (
        "settings",
        "secret_values",
        "leases",
        "instances",
        "events",
        "targets",
        "releases",
        "apps",
    ):
        op.drop_table(table)
