"""The instance book's commits (engine/book.py) on a real SQLite store: a change nobody waits for rides
on the release journal's commit of the same turn (engine/journal.py), one a side effect waits for is
committed before the waiter goes on, and a record's row is the same as ``to_dict`` made it."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from mooring.engine.book import LATER, BookEntry, InstanceBook, record_dict
from mooring.engine.journal import Journal
from mooring.release.ports import EventWrite
from mooring.runtime.record import InstanceRecord
from mooring.runtime.states import ExitReason, InstanceState
from mooring.store import Store, open_store
from tests.runtime.runtime_testkit import make_spec


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(f"sqlite:///{tmp_path / 'state.db'}", key_file=tmp_path / "secret.key") as opened:
        yield opened


def record(tmp_path: Path, instance_id: str, state: InstanceState, **changes: object) -> InstanceRecord:
    spec = make_spec(tmp_path, ["sleep", "9"], instance_id=instance_id)
    new = InstanceRecord.new(spec, f"/l/{instance_id}.log", "/l/o.fifo", "/l/e.fifo")
    return dataclasses.replace(new, state=state, **changes)  # type: ignore[arg-type]


def booked(store: Store, tmp_path: Path, *ids: str) -> InstanceBook:
    book = InstanceBook(store)
    release = store.create_release("shop", snapshot="{}", manifest_hash="sha256:a")
    for iid in ids:
        book.add(iid, BookEntry("shop", "web", 1, release.id, "h", {8000: 31000}, None))
        book.persist(record(tmp_path, iid, InstanceState.RUNNING, pid=10))  # outside a loop: written now
    return book


def test_a_fact_rides_on_the_journal_commit_of_its_turn(store: Store, tmp_path: Path) -> None:
    book = booked(store, tmp_path, "web-1-old", "web-1-new")
    journal = Journal(store, book=book)
    commits = store.commits

    async def turn() -> None:
        # the new instance runs, the old one is forgotten, the executor journals its gate: one commit
        assert (
            book.persist(record(tmp_path, "web-1-new", InstanceState.RUNNING, pid=77), urgent=False) is None
        )
        book.forget("web-1-old")
        journal.write([EventWrite("shop", "target.gated", {"instance_id": "web-1-new"}, None)])
        assert not book.pending
        await asyncio.sleep(LATER * 2)  # nothing left for the book's own flush

    asyncio.run(turn())

    assert store.commits == commits + 1
    assert [(i.id, i.pid) for i in store.list_instances("shop")] == [("web-1-new", 77)]
    assert [e.type for e in store.events_since("shop", 0, limit=10)] == ["target.gated"]


def test_a_fact_alone_is_written_soon_and_a_change_before_an_effect_before_its_waiter_goes_on(
    store: Store, tmp_path: Path
) -> None:
    book = booked(store, tmp_path, "web-1-a")

    async def run() -> None:
        book.persist(record(tmp_path, "web-1-a", InstanceState.RUNNING, pid=5), urgent=False)
        await asyncio.sleep(LATER * 4)
        assert store.get_instance("web-1-a").pid == 5  # no other commit came: written within LATER
        committed = book.persist(record(tmp_path, "web-1-a", InstanceState.STOPPING, pid=5))
        assert committed is not None
        await committed
        assert store.get_instance("web-1-a").state == "stopping"  # before the signal it precedes

    asyncio.run(run())


def test_the_row_holds_what_to_dict_gives_without_its_deep_copy(tmp_path: Path) -> None:
    rec = record(
        tmp_path,
        "web-1-a",
        InstanceState.EXITED,
        cgroup_paths=["/sys/fs/cgroup/x"],
        last_log_lines=["a", "b"],
        last_exit_reason=ExitReason.CRASHED,
        host_ports={"80": 31000},
    )
    data = record_dict(rec)
    assert json.dumps(data, sort_keys=True) == json.dumps(rec.to_dict(), sort_keys=True)
    data["cgroup_paths"].append("/y")
    assert rec.cgroup_paths == ["/sys/fs/cgroup/x"]  # its own containers, not the record's
