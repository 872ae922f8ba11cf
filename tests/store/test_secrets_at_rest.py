"""Secret values are ciphertext in the database, bound to their address; old plaintext rows are
encrypted by migration 0004; rotate-key re-encrypts everything; the audit log refuses changes."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from mooring.errors import StoreError, UsageError
from mooring.store import Store, open_store
from mooring.store.db import create_store_engine, database_url
from mooring.store.keyring import is_ciphertext, load_keyring
from mooring.store.migrate import alembic_config


def test_values_are_ciphertext_bound_to_their_address(store: Store) -> None:
    store.set_secret("shop", "DB_PASSWORD", "hunter2-hunter2", "local:ops")
    store.put_secret("secret:sha256:aa", "legacy-value-1")
    with store.engine.connect() as c:
        (cipher,) = c.execute(text("SELECT ciphertext FROM secret_versions")).one()
        (legacy,) = c.execute(text("SELECT value FROM secret_values")).one()
        assert is_ciphertext(cipher) and "hunter2" not in cipher
        assert is_ciphertext(legacy) and "legacy-value" not in legacy
        # moved to another version's row, the ciphertext no longer decrypts
        c.execute(text("UPDATE secret_versions SET version = 2"))
        c.commit()
    with pytest.raises(StoreError, match="was altered"):
        store.secret_value("shop", "DB_PASSWORD", 2)
    assert store.get_secrets(["secret:sha256:aa"]) == {"secret:sha256:aa": "legacy-value-1"}


def test_versions_are_kept_and_listed_without_values(store: Store) -> None:
    for value in ("one-value", "two-value", "three-value"):
        store.set_secret("shop", "API_TOKEN", value, "token:ci")
    versions = store.secret_versions("shop", "API_TOKEN")
    assert [(v.version, v.created_by) for v in versions] == [
        (1, "token:ci"),
        (2, "token:ci"),
        (3, "token:ci"),
    ]
    assert store.current_secret_versions("shop") == {"API_TOKEN": 3}
    assert store.secret_value("shop", "API_TOKEN", 1) == "one-value"
    with pytest.raises(UsageError, match="not allowed"):
        store.set_secret("shop", "bad name", "value", "x")
    assert store.remove_secret("shop", "API_TOKEN") == 3
    assert store.secret_versions("shop") == []


def test_rotate_key_reencrypts_everything_and_drops_the_old_key(store: Store, tmp_path: Path) -> None:
    store.set_secret("shop", "DB_PASSWORD", "before-rotation", "local:ops")
    store.put_secret("secret:sha256:bb", "legacy-before")
    old_key = store.keyring.current
    new_key, count = store.rotate_key()
    assert new_key != old_key and count == 2
    ring = load_keyring(store.key_path or tmp_path / "secret.key", create=False)
    assert [kid for kid, _ in ring.keys] == [new_key]
    assert stat.S_IMODE(ring.path.stat().st_mode) == 0o600
    assert store.secret_value("shop", "DB_PASSWORD", 1) == "before-rotation"
    assert store.get_secrets(["secret:sha256:bb"]) == {"secret:sha256:bb": "legacy-before"}


def test_the_audit_log_is_append_only(store: Store) -> None:
    store.append_audit("local:ops", "unix", "POST /v1/apps/shop/releases", "shop", "ok", 201)
    store.append_audit("token:ci", "tcp 10.0.0.1:5000", "POST /v1/apps/other/down", "other", "denied", 403)
    assert [e.app for e in store.audit_entries()] == ["shop", "other"]
    assert [e.actor for e in store.audit_entries(app="shop")] == ["local:ops"]
    for statement in ("UPDATE audit_log SET outcome = 'ok'", "DELETE FROM audit_log"):
        with pytest.raises(Exception, match="append-only"), store.engine.begin() as c:
            c.execute(text(statement))
    assert len(store.audit_entries()) == 2


def test_migration_0004_encrypts_plaintext_rows_and_leaves_no_trace(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    key = tmp_path / "keys" / "secret.key"
    engine = create_store_engine(database_url(f"sqlite:///{db}"))
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0003")
        connection.execute(
            text("INSERT INTO secret_values VALUES ('secret:sha256:cc', 'plaintext-password-123', :now)"),
            {"now": "2026-12-01 00:00:00.000000"},
        )
    engine.dispose()
    assert b"plaintext-password-123" in on_disk(db)

    with open_store(f"sqlite:///{db}", key_file=key) as store:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert store.get_secrets(["secret:sha256:cc"]) == {"secret:sha256:cc": "plaintext-password-123"}
    assert b"plaintext-password-123" not in on_disk(db)


def on_disk(db: Path) -> bytes:
    """The database file and its WAL, if any, as bytes."""
    wal = db.with_name(db.name + "-wal")
    return db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
