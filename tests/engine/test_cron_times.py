"""Next due times of crons: croniter in the host's local time zone, every-intervals from the last run."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from mooring.engine.cron_times import next_due, next_scheduled


@pytest.fixture
def berlin(monkeypatch: pytest.MonkeyPatch) -> Iterator[ZoneInfo]:
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield ZoneInfo("Europe/Berlin")
    monkeypatch.undo()
    time.tzset()


def at(zone: ZoneInfo, *parts: int) -> float:
    return datetime(*parts, tzinfo=zone).timestamp()  # type: ignore[misc]


def test_schedule_is_read_in_local_time(berlin: ZoneInfo) -> None:
    now = at(berlin, 2026, 11, 26, 12, 0, 0)
    assert next_scheduled("0 3 * * *", now) == at(berlin, 2026, 11, 27, 3, 0, 0)
    assert next_scheduled("*/5 * * * *", now) == at(berlin, 2026, 11, 26, 12, 5, 0)
    assert next_scheduled("*/5 * * * *", now + 1) == at(berlin, 2026, 11, 26, 12, 5, 0)


def test_schedule_crosses_a_daylight_saving_change(berlin: ZoneInfo) -> None:
    # 2026-03-29: Berlin skips from 02:00 to 03:00; 04:00 local is then 3 hours after midnight, not 4
    midnight = at(berlin, 2026, 3, 29, 0, 0, 0)
    assert next_scheduled("0 4 * * *", midnight) - midnight == 3 * 3600


def test_six_fields_count_seconds(berlin: ZoneInfo) -> None:
    now = at(berlin, 2026, 11, 26, 12, 0, 0)
    assert next_scheduled("* * * * * */10", now) == now + 10


def test_every_counts_from_the_end_of_the_previous_run() -> None:
    cron = {"every": "1m30s", "schedule": None}
    assert next_due(cron, now=500.0, last_end=None, installed_at=100.0) == 190.0
    assert next_due(cron, now=500.0, last_end=400.0, installed_at=100.0) == 490.0
    assert next_due({"schedule": "* * * * * *", "every": None}, 1000.0, 999.0, 0.0) == 1001.0
