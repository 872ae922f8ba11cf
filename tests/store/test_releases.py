"""Releases: numbering, partial updates, pagination, and the queries recovery and rollback use."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from mooring.errors import NotFound, StoreError
from mooring.store import Release, Store

SNAPSHOT = '{"app_name":"shop","services":[{"name":"web","replicas":2}]}'


def new_release(store: Store, app: str = "shop", **fields: object) -> Release:
    return store.create_release(app, snapshot=SNAPSHOT, manifest_hash="sha256:abc", **fields)  # type: ignore[arg-type]


def test_new_release_is_pending_active_with_a_12_hex_id_and_the_snapshot_verbatim(store: Store) -> None:
    release = new_release(store)
    assert re.fullmatch(r"[0-9a-f]{12}", release.id)
    assert (release.app, release.number, release.status, release.control) == ("shop", 1, "pending", "active")
    assert release.trigger == "apply"
    assert store.get_release(release.id).snapshot == SNAPSHOT


def test_release_numbers_increase_per_app_independently(store: Store) -> None:
    numbers = [(r.app, r.number) for r in (new_release(store, app) for app in ["a", "a", "b", "a", "b"])]
    assert numbers == [("a", 1), ("a", 2), ("b", 1), ("a", 3), ("b", 2)]


def test_concurrent_creates_get_distinct_consecutive_numbers(store: Store) -> None:
    with ThreadPoolExecutor(max_workers=6) as pool:
        releases = list(pool.map(lambda _: new_release(store), range(24)))
    assert sorted(r.number for r in releases) == list(range(1, 25))
    assert len({r.id for r in releases}) == 24


def test_timestamps_are_aware_utc(store: Store) -> None:
    before = datetime.now(UTC)
    release = store.get_release(new_release(store).id)
    assert release.created_at.tzinfo is UTC
    assert before - timedelta(seconds=5) <= release.created_at <= datetime.now(UTC)


def test_update_release_changes_only_the_fields_given(store: Store) -> None:
    release = new_release(store, scope="fresh", service_filter=["web"], message="applying")
    started = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    store.update_release(release.id, status="in_progress", started_at=started, targets_total=4)
    store.update_release(release.id, targets_ready=1, failure={"service": "web", "reason": "start_failed"})
    updated = store.get_release(release.id)
    assert (updated.status, updated.started_at, updated.targets_total) == ("in_progress", started, 4)
    assert updated.targets_ready == 1
    assert updated.failure == {"service": "web", "reason": "start_failed"}
    assert (updated.scope, updated.service_filter, updated.message) == ("fresh", ("web",), "applying")
    assert (updated.snapshot, updated.control, updated.finished_at) == (SNAPSHOT, "active", None)
    assert updated.updated_at > release.updated_at


def test_update_release_can_clear_a_field_explicitly(store: Store) -> None:
    release = new_release(store)
    store.update_release(release.id, failure={"reason": "x"})
    assert store.update_release(release.id, failure=None).failure is None


def test_update_release_refuses_immutable_fields_and_unknown_statuses(store: Store) -> None:
    release = new_release(store)
    with pytest.raises(StoreError, match="cannot update release field"):
        store.update_release(release.id, snapshot="{}")  # type: ignore[call-arg]
    with pytest.raises(StoreError, match="release status 'done' is not one of"):
        store.update_release(release.id, status="done")
    assert store.get_release(release.id).status == "pending"


def test_unknown_release_id_is_not_found_naming_the_id(store: Store) -> None:
    with pytest.raises(NotFound, match="deadbeef0000"):
        store.get_release("deadbeef0000")
    with pytest.raises(NotFound, match="deadbeef0000"):
        store.update_release("deadbeef0000", status="failed")


def test_list_releases_pages_newest_first(store: Store) -> None:
    for _ in range(7):
        new_release(store)
    new_release(store, "other")
    first = store.list_releases("shop", limit=3)
    second = store.list_releases("shop", limit=3, before_number=first[-1].number)
    last = store.list_releases("shop", limit=3, before_number=second[-1].number)
    assert [[r.number for r in page] for page in (first, second, last)] == [[7, 6, 5], [4, 3, 2], [1]]
    assert store.list_releases("nobody") == []
    latest = store.latest_release("shop")
    assert latest is not None and latest.number == 7
    assert store.latest_release("nobody") is None


def test_find_releases_selects_by_status_and_control_for_recovery(store: Store) -> None:
    running = new_release(store, "a")
    paused = new_release(store, "b")
    new_release(store, "c")
    store.update_release(running.id, status="in_progress")
    store.update_release(paused.id, status="in_progress", control="paused")
    assert [r.id for r in store.find_releases(status="in_progress", control="active")] == [running.id]
    assert [r.id for r in store.find_releases(status="in_progress")] == [running.id, paused.id]
    assert len(store.find_releases(status=["pending", "in_progress"])) == 3
    assert [r.id for r in store.find_releases(control="paused", app="b")] == [paused.id]


def test_last_successful_release_skips_failures_and_respects_before(store: Store) -> None:
    one, two, three, four = (new_release(store) for _ in range(4))
    for release, status in [(one, "completed"), (two, "completed"), (three, "failed"), (four, "completed")]:
        store.update_release(release.id, status=status)
    found = store.last_successful_release("shop")
    assert found is not None and found.id == four.id
    found = store.last_successful_release("shop", before_number=four.number)
    assert found is not None and found.id == two.id
    assert store.last_successful_release("shop", before_number=1) is None


def test_rollback_release_records_its_source(store: Store) -> None:
    source = new_release(store)
    rollback = new_release(store, trigger="rollback", source_release_id=source.id)
    assert (rollback.trigger, rollback.source_release_id) == ("rollback", source.id)


def test_rollback_source_must_exist_and_belong_to_the_same_app(store: Store) -> None:
    elsewhere = new_release(store, "other")
    with pytest.raises(StoreError, match="belongs to app 'other'"):
        new_release(store, trigger="rollback", source_release_id=elsewhere.id)
    with pytest.raises(NotFound, match="000000000000"):
        new_release(store, trigger="rollback", source_release_id="000000000000")


def test_superseded_by_must_name_a_real_release(store: Store) -> None:
    old, new = new_release(store), new_release(store)
    assert store.update_release(old.id, status="superseded", superseded_by=new.id).superseded_by == new.id
    with pytest.raises(StoreError, match=f"could not update release {old.id}"):
        store.update_release(old.id, superseded_by="ffffffffffff")
