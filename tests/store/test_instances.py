"""Instances: upserted by the runtime, listed for `mooring ps`, forgotten once stopped."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from mooring.errors import NotFound, StoreError
from mooring.store import Instance, Store


def web(replica: int = 1, **fields: object) -> Instance:
    instance = Instance(
        id=f"web-{replica}-a1b2c3",
        app="shop",
        service="web",
        replica=replica,
        driver="process",
        state="starting",
    )
    return dataclasses.replace(instance, **fields)  # type: ignore[arg-type]


def test_upsert_inserts_then_overwrites(store: Store) -> None:
    started = datetime(2025, 6, 1, 12, 0, 0, 123456, tzinfo=UTC)
    first = store.upsert_instance(
        web(
            pid=4242,
            pid_start_time=1717243200.57,
            cgroup="/mooring/shop/web-1",
            ports={"http": 31001},
            info={"argv": ["python", "-m", "http.server"]},
            started_at=started,
        )
    )
    assert (first.pid, first.pid_start_time, first.ports, first.started_at) == (
        4242,
        1717243200.57,
        {"http": 31001},
        started,
    )
    assert first.updated_at is not None
    second = store.upsert_instance(dataclasses.replace(first, state="running", health="healthy", restarts=1))
    assert (second.state, second.health, second.restarts, second.pid) == ("running", "healthy", 1, 4242)
    assert store.get_instance(first.id) == second
    assert len(store.list_instances()) == 1


def test_list_instances_by_app_in_service_replica_order(store: Store) -> None:
    for instance in [
        web(2),
        web(1),
        dataclasses.replace(web(1), id="db-1-x", service="db", driver="container", container_id="c0ffee"),
    ]:
        store.upsert_instance(instance)
    store.upsert_instance(dataclasses.replace(web(1), id="other-web-1", app="other"))
    assert [i.id for i in store.list_instances("shop")] == ["db-1-x", "web-1-a1b2c3", "web-2-a1b2c3"]
    assert [i.app for i in store.list_instances()] == ["other", "shop", "shop", "shop"]
    assert store.list_instances("nobody") == []


def test_delete_instance_is_idempotent(store: Store) -> None:
    store.upsert_instance(web())
    assert store.delete_instance("web-1-a1b2c3") is True
    assert store.delete_instance("web-1-a1b2c3") is False
    with pytest.raises(NotFound, match="web-1-a1b2c3"):
        store.get_instance("web-1-a1b2c3")


def test_instance_release_must_exist_and_driver_must_be_known(store: Store) -> None:
    with pytest.raises(StoreError, match="could not record instance web-1-a1b2c3"):
        store.upsert_instance(web(release_id="000000000000"))
    with pytest.raises(StoreError, match="instance driver 'vm' is not one of"):
        store.upsert_instance(web(driver="vm"))
    release = store.create_release("shop", snapshot="{}", manifest_hash="sha256:a")
    assert store.upsert_instance(web(release_id=release.id, spec_hash="sha256:s")).release_id == release.id


def test_write_instances_upserts_and_forgets_in_one_transaction(store: Store) -> None:
    store.upsert_instance(web(1, pid=11))
    store.upsert_instance(web(2, pid=22))
    rows = [web(1, state="running", pid=12, ports={"http": 31001}), web(3, pid=33, info={"k": [1]})]
    store.write_instances(rows, ["web-2-a1b2c3"])
    listed = {i.id: i for i in store.list_instances("shop")}
    assert sorted(listed) == ["web-1-a1b2c3", "web-3-a1b2c3"]
    assert (listed["web-1-a1b2c3"].state, listed["web-1-a1b2c3"].pid) == ("running", 12)
    assert listed["web-1-a1b2c3"].ports == {"http": 31001}
    assert listed["web-3-a1b2c3"].info == {"k": [1]}


def test_write_instances_refuses_the_whole_batch_when_one_row_is_bad(store: Store) -> None:
    store.upsert_instance(web(1, pid=11))
    with pytest.raises(StoreError, match="could not record 2 instance"):
        store.write_instances([web(1, pid=99), web(2, release_id="000000000000")], [])
    assert store.get_instance("web-1-a1b2c3").pid == 11  # nothing half-written


@pytest.mark.parametrize("driver", ["process", "container", "swarm"])
def test_every_driver_is_recorded_and_an_unknown_one_refused(store: Store, driver: str) -> None:
    # the database's own CHECK takes "swarm" since migration 0012, on SQLite and PostgreSQL alike
    recorded = store.upsert_instance(web(driver=driver))
    assert store.get_instance(recorded.id).driver == driver
    with pytest.raises(StoreError):
        store.upsert_instance(web(2, driver="kubernetes"))
