"""API tokens: the secret is shown once and stored only as its sha256; revoke by id or name."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import text

from mooring.errors import Conflict, NotFound, StoreError, UsageError
from mooring.store import Store


def test_token_secret_is_returned_once_and_only_its_sha256_is_stored(store: Store) -> None:
    token, secret = store.create_token("write", name="ci")
    assert (token.name, token.scope, token.revoked, token.last_used_at) == ("ci", "write", False, None)
    assert secret.startswith("mooring_") and len(secret) > 40
    with store.engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM api_tokens")).mappings().all()
    assert len(rows) == 1
    assert rows[0]["secret_sha256"] == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in repr(dict(rows[0]))
    assert store.token_for_secret(secret) == token
    assert store.token_for_secret(secret + "x") is None


def test_unnamed_tokens_get_a_name_from_their_id_and_secrets_differ(store: Store) -> None:
    first, s1 = store.create_token("read")
    second, s2 = store.create_token("read")
    assert first.name == f"token-{first.id}" and len(first.id) == 12
    assert s1 != s2 and first.id != second.id
    assert [t.id for t in store.list_tokens()] == [first.id, second.id]


def test_a_token_name_is_taken_once_and_bad_names_and_scopes_are_refused(store: Store) -> None:
    store.create_token("admin", name="ops")
    with pytest.raises(Conflict, match="a token named 'ops' already exists"):
        store.create_token("read", name="ops")
    with pytest.raises(UsageError, match="token name 'has space' is not allowed"):
        store.create_token("read", name="has space")
    with pytest.raises(StoreError, match="token scope 'root' is not one of: read, write, admin"):
        store.create_token("root")
    assert [t.name for t in store.list_tokens()] == ["ops"]


def test_revoke_by_id_or_name_keeps_the_record_and_the_first_revocation_time(store: Store) -> None:
    by_name, secret = store.create_token("write", name="deploy")
    by_id, _ = store.create_token("read", name="dash")
    revoked = store.revoke_token("deploy")
    assert revoked.revoked and revoked.id == by_name.id
    assert store.revoke_token(by_name.id).revoked_at == revoked.revoked_at
    assert store.token_for_secret(secret) == revoked  # still found, so the API can say "revoked"
    assert store.revoke_token(by_id.id).name == "dash"
    assert [t.revoked for t in store.list_tokens()] == [True, True]
    with pytest.raises(NotFound, match="no token with id or name 'nope'"):
        store.revoke_token("nope")


def test_last_use_is_recorded(store: Store) -> None:
    token, secret = store.create_token("read")
    store.mark_token_used(token.id)
    found = store.token_for_secret(secret)
    assert found is not None and found.last_used_at is not None
    assert found.last_used_at >= token.created_at
