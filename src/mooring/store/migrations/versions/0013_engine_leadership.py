"""Engines sharing one PostgreSQL elect a leader: ``leadership`` (cluster, fencing epoch, leader,
its API address), ``engines`` (who is there), and the epoch that wrote each event.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "leadership",
        sa.Column("cluster", sa.String(200), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("leader", sa.String(64), nullable=False),
        sa.Column("address", sa.String(400), nullable=True),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("renewed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("cluster", name=op.f("pk_leadership")),
    )
    op.create_table(
        "engines",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("cluster", sa.String(200), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("home", sa.Text(), nullable=False),
        sa.Column("address", sa.String(400), nullable=True),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engines")),
    )
    op.create_index(op.f("ix_engines_cluster"), "engines", ["cluster"])
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("epoch", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_column("epoch")
    op.drop_index(op.f("ix_engines_cluster"), table_name="engines")
    op.drop_table("engines")
    op.drop_table("leadership")
