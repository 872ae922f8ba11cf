"""Targets: recorded in bulk with the plan, then each transition journaled."""

from __future__ import annotations

import pytest

from mooring.errors import NotFound, StoreError
from mooring.store import NewTarget, Store


def plan(store: Store) -> str:
    release = store.create_release("shop", snapshot="{}", manifest_hash="sha256:abc")
    store.add_targets(
        release.id,
        [
            NewTarget("web", 2, "replace", batch=1, from_spec_hash="sha256:old", to_spec_hash="sha256:new"),
            NewTarget("web", 1, "replace", batch=0, previous_instance_id="web-1-aaaaaa"),
            NewTarget("db", 1, "unchanged", batch=0, state="skipped"),
            NewTarget("cache", 1, "remove", batch=2),
        ],
    )
    return release.id


def test_targets_list_in_rollout_order(store: Store) -> None:
    release_id = plan(store)
    listed = [(t.batch, t.service, t.replica, t.action, t.state) for t in store.list_targets(release_id)]
    assert listed == [
        (0, "db", 1, "unchanged", "skipped"),
        (0, "web", 1, "replace", "pending"),
        (1, "web", 2, "replace", "pending"),
        (2, "cache", 1, "remove", "pending"),
    ]
    web2 = store.list_targets(release_id)[2]
    assert (web2.from_spec_hash, web2.to_spec_hash) == ("sha256:old", "sha256:new")


def test_update_target_changes_only_the_fields_given(store: Store) -> None:
    release_id = plan(store)
    web1 = next(t for t in store.list_targets(release_id) if (t.service, t.replica) == ("web", 1))
    store.update_target(web1.id, state="starting", instance_id="web-1-bbbbbb")
    failed = store.update_target(
        web1.id, state="failed", reason="readiness_timeout", detail="no answer in 30s"
    )
    assert (failed.state, failed.reason, failed.detail) == ("failed", "readiness_timeout", "no answer in 30s")
    assert (failed.instance_id, failed.previous_instance_id) == ("web-1-bbbbbb", "web-1-aaaaaa")
    assert store.list_targets(release_id)[1] == failed


def test_a_replica_slot_appears_once_per_release(store: Store) -> None:
    release_id = plan(store)
    with pytest.raises(StoreError, match="'web' replica 1 appears twice"):
        store.add_targets(release_id, [NewTarget("web", 1, "create", 0), NewTarget("web", 1, "create", 0)])
    with pytest.raises(StoreError, match=f"could not record the targets of release {release_id}"):
        store.add_targets(release_id, [NewTarget("web", 1, "create", 0)])
    assert len(store.list_targets(release_id)) == 4


def test_unknown_vocabulary_and_unknown_ids_are_refused(store: Store) -> None:
    release_id = plan(store)
    with pytest.raises(StoreError, match="target action 'restart' is not one of"):
        store.add_targets(release_id, [NewTarget("web", 9, "restart", 0)])
    with pytest.raises(NotFound, match="abcdefabcdef"):
        store.add_targets("abcdefabcdef", [NewTarget("web", 1, "create", 0)])
    with pytest.raises(NotFound, match="abcdefabcdef"):
        store.list_targets("abcdefabcdef")
    with pytest.raises(NotFound, match="no target with id 999"):
        store.update_target(999, state="ready")
