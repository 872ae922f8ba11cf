"""Release triggers `restart` (mooring restart, up --force) and `down` (mooring down is recorded).

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the vocabulary before and at this revision.
BEFORE = ("apply", "rollback")
TRIGGERS = ("apply", "rollback", "restart", "down")


def _check(values: Sequence[str]) -> str:
    return "trigger IN (" + ", ".join(repr(v) for v in values) + ")"


def upgrade() -> None:
    with op.batch_alter_table("releases", recreate="auto") as batch:
        batch.drop_constraint("ck_releases_trigger", type_="check")
        batch.create_check_constraint("trigger", _check(TRIGGERS))


def downgrade() -> None:
    op.execute("UPDATE releases SET trigger = 'apply' WHERE trigger IN ('restart', 'down')")
    with op.batch_alter_table("releases", recreate="auto") as batch:
        batch.drop_constraint("ck_releases_trigger", type_="check")
        batch.create_check_constraint("trigger", _check(BEFORE))
