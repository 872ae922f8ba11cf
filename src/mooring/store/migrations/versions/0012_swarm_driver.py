"""Instances may run on the Swarm driver: ``swarm`` joins the driver vocabulary.

Revision ID: 0012
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies: a migration keeps the vocabulary of its day.
BEFORE = ("process", "container")
AFTER = ("process", "container", "swarm")


def one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _driver_checks() -> list[str]:
    """The names the first migration's CHECK on ``driver`` came out as (the naming convention
    prefixed it once more), whatever the dialect."""
    bind = op.get_bind()
    return [
        str(c["name"])
        for c in sa.inspect(bind).get_check_constraints("instances")
        if c.get("name") and "driver" in str(c.get("sqltext", ""))
    ]


def _replace(values: tuple[str, ...]) -> None:
    names = _driver_checks()
    # batch mode: SQLite cannot alter a CHECK constraint in place, so the table is copied
    with op.batch_alter_table("instances") as batch:
        for name in names:
            batch.drop_constraint(op.f(name), type_="check")
        batch.create_check_constraint(op.f("ck_instances_driver"), one_of("driver", values))


def upgrade() -> None:
    _replace(AFTER)


def downgrade() -> None:
    _replace(BEFORE)
