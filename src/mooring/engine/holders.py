"""Is the process that holds a lease on this host still that process?

A pid alone is not an identity: a killed engine can linger as a zombie (a parent that never reaps it)
or its pid can be reused by an unrelated process. The pid plus the process's start time is.
"""

from __future__ import annotations

import os
from datetime import datetime

import psutil

# psutil derives the start time from boot time + clock ticks; the same process reads back the same
# value, so anything past this slack is another process behind the same pid.
START_TIME_SLACK = 0.5


def start_time(pid: int | None = None) -> float | None:
    """When process ``pid`` (default: this one) started, in seconds since the epoch; None if gone."""
    try:
        return float(psutil.Process(pid if pid is not None else os.getpid()).create_time())
    except (psutil.Error, OSError):
        return None


def holder_gone(pid: int, recorded_start: float | None, acquired_at: datetime | None = None) -> bool:
    """True when the holder ``pid`` (started at ``recorded_start``, if known) is certainly dead.

    Without a recorded start time (a lease written before it was recorded), a process that started
    after the lease was taken cannot be its holder either.
    """
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return True
        started = float(proc.create_time())
    except psutil.NoSuchProcess:
        return True
    except (psutil.Error, OSError):
        return False  # exists but unreadable (another user's process): not ours to judge
    if recorded_start is not None:
        return abs(started - recorded_start) > START_TIME_SLACK
    return acquired_at is not None and started > acquired_at.timestamp() + START_TIME_SLACK
