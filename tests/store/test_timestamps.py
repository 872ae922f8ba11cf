"""Timestamps: any aware datetime comes back as the same instant, in UTC, to the microsecond."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mooring.errors import StoreError
from mooring.store import Instance, Store

offsets = st.timedeltas(
    min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23, minutes=59)
)
aware_datetimes = st.builds(
    lambda naive, offset: naive.replace(tzinfo=timezone(offset)),
    st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1)),
    offsets.map(lambda d: timedelta(minutes=int(d.total_seconds() // 60))),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(moment=aware_datetimes)
def test_aware_datetimes_round_trip_as_utc_with_microseconds(store: Store, moment: datetime) -> None:
    stored = store.upsert_instance(
        Instance(
            id="i", app="shop", service="web", replica=1, driver="process", state="running", started_at=moment
        )
    )
    assert stored.started_at == moment
    assert stored.started_at is not None and stored.started_at.tzinfo is UTC
    assert stored.started_at.microsecond == moment.astimezone(UTC).microsecond


def test_naive_datetimes_are_refused(store: Store) -> None:
    with pytest.raises(StoreError, match="naive datetime"):
        store.upsert_instance(
            Instance(
                id="i",
                app="shop",
                service="web",
                replica=1,
                driver="process",
                state="running",
                started_at=datetime(2025, 1, 1),
            )
        )
