"""When a cron is due next: pure arithmetic on wall-clock seconds, kept apart so it is unit-testable."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from croniter import croniter
from dateutil.tz import tzlocal

from mooring.manifest.durations import parse_duration


def next_scheduled(expression: str, after: float) -> float:
    """The first time strictly after ``after`` that the cron expression names, in the host's local time.

    Five fields are minute-granular cron syntax; a sixth field (croniter's) counts seconds.
    """
    # tzlocal follows the host's daylight-saving rules; astimezone() would fix today's offset for good
    start = datetime.fromtimestamp(after, tzlocal())
    return float(croniter(expression, start).get_next(float))


def next_due(cron: Mapping[str, Any], now: float, last_end: float | None, installed_at: float) -> float:
    """``schedule``: the next matching time after ``now``; ``every``: one interval after the previous
    run ended, or after the cron set was installed when it has not run yet."""
    if cron.get("schedule"):
        return next_scheduled(str(cron["schedule"]), now)
    interval = parse_duration(str(cron["every"]))
    return (last_end if last_end is not None else installed_at) + interval
