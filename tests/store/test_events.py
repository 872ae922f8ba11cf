"""Events: per-app and per-release sequences stay gap-free and unique under concurrent appends."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ThreadPoolExecutor

import pytest

from mooring.errors import NotFound, StoreError
from mooring.store import Store, open_store


def test_sequences_count_per_app_and_per_release(store: Store) -> None:
    first = store.create_release("shop", snapshot="{}", manifest_hash="sha256:a")
    second = store.create_release("shop", snapshot="{}", manifest_hash="sha256:b")
    appended = [
        store.append_event("shop", "release.created", {"release": first.id}, release_id=first.id),
        store.append_event("shop", "engine.started", {}),
        store.append_event("shop", "release.created", {}, release_id=second.id),
        store.append_event("shop", "target.ready", {"service": "web"}, release_id=first.id),
        store.append_event("other", "engine.started", {}),
    ]
    assert appended == [(1, 1), (2, None), (3, 1), (4, 2), (1, None)]
    timeline = store.release_events(first.id)
    assert [(e.app_seq, e.release_seq, e.type) for e in timeline] == [
        (1, 1, "release.created"),
        (4, 2, "target.ready"),
    ]
    assert timeline[1].payload == {"service": "web"}
    assert store.latest_event_seq("shop") == 4
    assert store.latest_event_seq("nobody") == 0


def test_events_since_resumes_without_gap_or_duplicate(store: Store) -> None:
    for n in range(1, 26):
        store.append_event("shop", "tick", {"n": n})
    seen: list[int] = []
    since = 0
    while page := store.events_since("shop", since_seq=since, limit=7):
        seen.extend(e.payload["n"] for e in page)
        since = page[-1].app_seq
    assert seen == list(range(1, 26))
    assert store.events_since("shop", since_seq=25) == []


def test_concurrent_appends_from_threads_leave_no_gap(store: Store) -> None:
    release = store.create_release("shop", snapshot="{}", manifest_hash="sha256:a")

    def append(n: int) -> tuple[int, int | None]:
        return store.append_event("shop", "tick", {"n": n}, release_id=release.id if n % 2 else None)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(append, range(80)))
    assert sorted(app_seq for app_seq, _ in results) == list(range(1, 81))
    assert sorted(seq for _, seq in results if seq is not None) == list(range(1, 41))
    assert [e.app_seq for e in store.events_since("shop", limit=1000)] == list(range(1, 81))
    assert [e.release_seq for e in store.release_events(release.id)] == list(range(1, 41))


def _append_many(url: str, release_id: str, worker: int) -> None:
    with open_store(url) as store:
        for n in range(30):
            store.append_event("shop", "tick", {"worker": worker, "n": n}, release_id=release_id)


def test_concurrent_appends_from_processes_leave_no_gap(store: Store) -> None:
    release = store.create_release("shop", snapshot="{}", manifest_hash="sha256:a")
    fork = multiprocessing.get_context("fork")
    workers = [
        fork.Process(
            target=_append_many, args=(store.engine.url.render_as_string(hide_password=False), release.id, w)
        )
        for w in range(3)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert [worker.exitcode for worker in workers] == [0, 0, 0]
    events = store.release_events(release.id)
    assert [e.release_seq for e in events] == list(range(1, 91))
    assert sorted(e.app_seq for e in events) == list(range(1, 91))
    for number in range(3):  # each process's own events stay in the order it appended them
        assert [e.payload["n"] for e in events if e.payload["worker"] == number] == list(range(30))


def test_an_event_cannot_be_filed_under_another_apps_release(store: Store) -> None:
    release = store.create_release("shop", snapshot="{}", manifest_hash="sha256:a")
    with pytest.raises(StoreError, match="belongs to another app"):
        store.append_event("other", "tick", {}, release_id=release.id)
    with pytest.raises(NotFound, match="0123456789ab"):
        store.append_event("shop", "tick", {}, release_id="0123456789ab")
    with pytest.raises(NotFound, match="0123456789ab"):
        store.release_events("0123456789ab")
    assert store.events_since("other") == []
