"""The executor's group commit in the store: target changes, release changes and events of one loop
turn in one transaction, numbered after what others appended, all or nothing."""

from __future__ import annotations

import pytest

from mooring.errors import NotFound, StoreError
from mooring.store import NewTarget, Store
from mooring.store.journal_writes import NewEvent, ReleaseUpdate, TargetUpdate


def planned(store: Store) -> tuple[str, list[int]]:
    release = store.create_release("shop", snapshot="{}", manifest_hash="sha256:a")
    targets = store.add_targets(release.id, [NewTarget("web", r, "create", batch=0) for r in (1, 2, 3)])
    return release.id, [t.id for t in targets]


def test_one_write_applies_every_change_and_numbers_events_after_the_others(store: Store) -> None:
    release_id, (web1, web2, web3) = planned(store)
    store.append_event("shop", "engine.started", {})  # another writer's event: app_seq 1
    store.append_event("shop", "release.created", {}, release_id=release_id)  # app_seq 2, release_seq 1

    store.write_journal(
        [
            TargetUpdate(web1, {"state": "starting", "instance_id": "web-1-a"}),
            TargetUpdate(web2, {"state": "starting", "instance_id": "web-2-a"}),
            NewEvent("shop", "target.starting", {"target": "web-1"}, release_id),
            NewEvent("shop", "target.starting", {"target": "web-2"}, release_id),
            ReleaseUpdate(release_id, {"status": "in_progress", "targets_total": 3}),
            TargetUpdate(web1, {"state": "failed", "reason": "start_failed", "detail": "token=s3cr3t"}),
            NewEvent("other", "engine.started", {}),
            ReleaseUpdate(release_id, {"targets_failed": 1}),
        ]
    )

    targets = {t.id: t for t in store.list_targets(release_id)}
    assert (targets[web1].state, targets[web1].instance_id, targets[web1].reason) == (
        "failed",
        "web-1-a",
        "start_failed",
    )
    assert (targets[web2].state, targets[web2].instance_id) == ("starting", "web-2-a")
    assert (targets[web3].state, targets[web3].instance_id) == ("pending", None)
    release = store.get_release(release_id)
    assert (release.status, release.targets_total, release.targets_failed) == ("in_progress", 3, 1)
    timeline = [(e.app_seq, e.release_seq, e.type, e.payload) for e in store.release_events(release_id)]
    assert timeline == [
        (2, 1, "release.created", {}),
        (3, 2, "target.starting", {"target": "web-1"}),
        (4, 3, "target.starting", {"target": "web-2"}),
    ]
    assert [e.app_seq for e in store.events_since("other")] == [1]
    store.append_event("shop", "after", {}, release_id=release_id)  # the numbering goes on from there
    assert [(e.app_seq, e.release_seq) for e in store.release_events(release_id)][-1] == (5, 4)


def test_a_refused_entry_writes_nothing_of_the_run(store: Store) -> None:
    release_id, (web1, _, _) = planned(store)
    with pytest.raises(StoreError, match="target state 'sideways'"):
        store.write_journal(
            [
                NewEvent("shop", "target.starting", {}, release_id),
                TargetUpdate(web1, {"state": "sideways"}),
            ]
        )
    with pytest.raises(NotFound, match="no target with one of the ids"):
        store.write_journal(
            [
                NewEvent("shop", "target.starting", {}, release_id),
                TargetUpdate(web1, {"state": "starting"}),
                TargetUpdate(999_999, {"state": "starting"}),
            ]
        )
    assert store.release_events(release_id) == []
    assert store.list_targets(release_id)[0].state == "pending"
    other = store.create_release("other", snapshot="{}", manifest_hash="sha256:b")
    with pytest.raises(StoreError, match="belongs to another app"):
        store.write_journal([NewEvent("shop", "target.starting", {}, other.id)])


def test_instance_rows_of_the_same_turn_share_the_journal_commit_all_or_nothing(store: Store) -> None:
    from mooring.store import Instance

    release_id, (web1, _, _) = planned(store)
    store.upsert_instance(Instance("web-1-old", "shop", "web", 1, "process", "stopping"))
    commits = store.commits

    store.write_journal(
        [TargetUpdate(web1, {"state": "starting"}), NewEvent("shop", "target.starting", {}, release_id)],
        [Instance("web-1-new", "shop", "web", 1, "process", "running", pid=42)],
        ["web-1-old"],
    )

    assert store.commits == commits + 1  # one transaction for the journal and the instances
    assert [(i.id, i.pid) for i in store.list_instances("shop")] == [("web-1-new", 42)]
    assert {t.id: t.state for t in store.list_targets(release_id)}[web1] == "starting"
    with pytest.raises(StoreError):  # a bad instance row: the journal's writes are not committed either
        store.write_journal(
            [TargetUpdate(web1, {"state": "ready"})],
            [Instance("web-2-new", "shop", "web", 2, "process", "running", release_id="000000000000")],
        )
    assert {t.id: t.state for t in store.list_targets(release_id)}[web1] == "starting"
