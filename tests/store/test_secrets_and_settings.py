"""Secret values by fingerprint, and install-wide settings created once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from mooring.errors import StoreError
from mooring.store import Store


def test_secrets_round_trip_by_fingerprint(store: Store) -> None:
    store.put_secret("sha256:aa", "hunter2")
    store.put_secret("sha256:bb", "multi\nline ✓ value")
    store.put_secret("sha256:aa", "hunter2")  # idempotent
    assert store.get_secrets(["sha256:aa", "sha256:bb", "sha256:missing"]) == {
        "sha256:aa": "hunter2",
        "sha256:bb": "multi\nline ✓ value",
    }
    assert store.get_secrets([]) == {}


def test_a_fingerprint_cannot_change_value_and_the_error_never_shows_values(store: Store) -> None:
    store.put_secret("sha256:aa", "hunter2")
    with pytest.raises(StoreError) as raised:
        store.put_secret("sha256:aa", "swordfish")
    assert "sha256:aa" in str(raised.value)
    assert "hunter2" not in str(raised.value) and "swordfish" not in str(raised.value)
    assert store.get_secrets(["sha256:aa"]) == {"sha256:aa": "hunter2"}


def test_setting_is_created_once_and_the_first_writer_wins(store: Store) -> None:
    assert store.get_or_create_setting("install_key", lambda: "first") == "first"
    assert store.get_or_create_setting("install_key", lambda: "second") == "first"

    with ThreadPoolExecutor(max_workers=6) as pool:
        values = set(pool.map(lambda n: store.get_or_create_setting("raced", lambda: f"v{n}"), range(6)))
    assert len(values) == 1
