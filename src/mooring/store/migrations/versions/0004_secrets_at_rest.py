"""Secrets never plaintext at rest: encrypt secret_values, named secret versions, the audit log, token scopes.

Existing plaintext rows of ``secret_values`` are encrypted with the keyring (store/keyring.py, created
on first use), the fingerprint bound as associated data.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

from mooring.store.keyring import is_ciphertext, load_keyring

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of the vocabulary at this revision.
TOKEN_SCOPES = ("read", "write", "admin", "custom")


def ts(name: str, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    _encrypt_secret_values()
    op.create_table(
        "secret_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("ciphertext", sa.Text(), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        ts("created_at"),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], name="fk_secret_versions_app_id_apps"),
        sa.PrimaryKeyConstraint("id", name="pk_secret_versions"),
        sa.UniqueConstraint("app_id", "name", "version", name="uq_secret_versions_app_id_name_version"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True),
        ts("at"),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("action", sa.String(200), nullable=False),
        sa.Column("app", sa.String(200), nullable=True),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_app", "audit_log", ["app"])
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    _append_only("audit_log")
    scopes = ", ".join(repr(s) for s in TOKEN_SCOPES)
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_constraint("ck_api_tokens_scope", type_="check")
        batch.create_check_constraint("ck_api_tokens_scope", f"scope IN ({scopes})")
        batch.add_column(sa.Column("scopes", sa.JSON(none_as_null=True), nullable=True))
        batch.add_column(sa.Column("apps", sa.JSON(none_as_null=True), nullable=True))
        batch.add_column(ts("expires_at", nullable=True))


def _encrypt_secret_values() -> None:
    """Encrypt every plaintext value in place; the key file is created only when there is one."""
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT fingerprint, value FROM secret_values")).all()
    plain = [(fp, value) for fp, value in rows if not is_ciphertext(value)]
    if not plain:
        return
    keyring = load_keyring(op.get_context().config.attributes.get("key_file"))  # type: ignore[union-attr]
    for fp, value in plain:
        bind.execute(
            sa.text("UPDATE secret_values SET value = :value WHERE fingerprint = :fp"),
            {"value": keyring.encrypt(value, fp), "fp": fp},
        )


def _append_only(table: str) -> None:
    """Refuse UPDATE and DELETE of ``table`` in the database itself, not only in mooring's code."""
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )
        return
    op.execute(
        f"CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN RAISE EXCEPTION '{table} is append-only'; END $$"
    )
    op.execute(
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()"
    )


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("expires_at")
        batch.drop_column("apps")
        batch.drop_column("scopes")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION audit_log_append_only()")
    op.drop_table("audit_log")
    op.drop_table("secret_versions")
