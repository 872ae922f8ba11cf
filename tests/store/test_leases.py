"""Leases: one writer per app, taken over only when expired, released only by the holder."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from mooring.errors import LeaseConflict
from mooring.store import Lease, Store

T0 = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
TTL = timedelta(seconds=30)


def test_first_holder_gets_the_lease(store: Store) -> None:
    lease = store.acquire_lease("shop", "a1b2c3d4e5f6", "web01", 4242, TTL, now=T0)
    assert lease == Lease("shop", "a1b2c3d4e5f6", "web01", 4242, T0, T0, T0 + TTL)
    assert store.current_lease("shop") == lease


def test_second_holder_gets_a_conflict_naming_holder_host_pid_since_and_the_way_out(store: Store) -> None:
    store.acquire_lease("shop", "a1b2c3d4e5f6", "web01", 4242, TTL, now=T0)
    with pytest.raises(LeaseConflict) as raised:
        store.acquire_lease("shop", "ffffffffffff", "web02", 7, TTL, now=T0 + timedelta(seconds=10))
    message = str(raised.value)
    assert "app 'shop' is locked by release a1b2c3d4e5f6 on host web01 (pid 4242)" in message
    assert "since 2025-06-01 12:00:00 UTC" in message
    assert "--wait-lock" in message
    assert "expires at 2025-06-01 12:00:30 UTC (in 20s)" in message
    assert raised.value.exit_code == 8
    current = store.current_lease("shop")
    assert current is not None and current.holder == "a1b2c3d4e5f6"


def test_an_expired_lease_is_taken_over(store: Store) -> None:
    store.acquire_lease("shop", "old", "web01", 1, TTL, now=T0)
    later = T0 + TTL
    lease = store.acquire_lease("shop", "new", "web02", 2, TTL, now=later)
    assert (lease.holder, lease.host, lease.pid, lease.acquired_at) == ("new", "web02", 2, later)
    assert store.current_lease("shop") == lease


def test_the_same_holder_reacquiring_keeps_its_since(store: Store) -> None:
    store.acquire_lease("shop", "me", "web01", 1, TTL, now=T0)
    again = store.acquire_lease("shop", "me", "web01", 1, TTL, now=T0 + timedelta(seconds=5))
    assert (again.acquired_at, again.expires_at) == (T0, T0 + timedelta(seconds=35))


def test_release_by_a_non_holder_does_nothing(store: Store) -> None:
    store.acquire_lease("shop", "me", "web01", 1, TTL, now=T0)
    assert store.release_lease("shop", "someone-else") is False
    assert store.current_lease("shop") is not None
    assert store.release_lease("shop", "me") is True
    assert store.current_lease("shop") is None
    assert store.release_lease("shop", "me") is False
    assert store.release_lease("never-seen", "me") is False


def test_break_reclaims_only_the_expected_holders_lease(store: Store) -> None:
    store.acquire_lease("shop", "dead-engine", "web01", 1, TTL, now=T0)
    assert store.break_lease("shop", "someone-else") is False
    assert store.break_lease("shop", "dead-engine") is True
    assert store.acquire_lease("shop", "new", "web01", 2, TTL, now=T0).holder == "new"


def test_renew_extends_and_a_lost_lease_cannot_be_renewed(store: Store) -> None:
    store.acquire_lease("shop", "old", "web01", 1, TTL, now=T0)
    renewed = store.renew_lease("shop", "old", TTL, now=T0 + timedelta(seconds=20))
    assert (renewed.acquired_at, renewed.heartbeat_at) == (T0, T0 + timedelta(seconds=20))
    assert renewed.expires_at == T0 + timedelta(seconds=50)
    store.acquire_lease("shop", "new", "web02", 2, TTL, now=T0 + timedelta(seconds=60))
    with pytest.raises(
        LeaseConflict, match="old lost the lock on app 'shop': it is now held by new on host web02"
    ):
        store.renew_lease("shop", "old", TTL, now=T0 + timedelta(seconds=61))
    store.release_lease("shop", "new")
    with pytest.raises(LeaseConflict, match="nobody holds it now"):
        store.renew_lease("shop", "new", TTL)


def test_lease_expiry_reads_in_utc(store: Store) -> None:
    lease = store.acquire_lease("shop", "me", "web01", 1, TTL, now=T0)
    assert not lease.expired(T0 + timedelta(seconds=29))
    assert lease.expired(T0 + TTL)


def test_concurrent_acquires_have_exactly_one_winner(store: Store) -> None:
    store.get_or_create_app("shop")
    start = threading.Barrier(8)

    def contend(n: int) -> str:
        start.wait()
        try:
            return store.acquire_lease("shop", f"holder-{n}", "web01", n, TTL).holder
        except LeaseConflict:
            return "conflict"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(contend, range(8)))
    winners = [o for o in outcomes if o != "conflict"]
    assert len(winners) == 1
    current = store.current_lease("shop")
    assert current is not None and current.holder == winners[0]


def test_concurrent_takeovers_of_an_expired_lease_have_exactly_one_winner(store: Store) -> None:
    store.acquire_lease("shop", "dead", "web01", 1, TTL, now=T0)
    start = threading.Barrier(6)
    later = T0 + timedelta(minutes=5)

    def contend(n: int) -> bool:
        start.wait()
        try:
            store.acquire_lease("shop", f"holder-{n}", "web01", n, TTL, now=later)
            return True
        except LeaseConflict:
            return False

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert sum(pool.map(contend, range(6))) == 1
