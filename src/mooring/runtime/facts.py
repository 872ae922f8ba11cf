"""Live numbers for ``mooring ps``: uptime, CPU and memory of an instance's whole process tree."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import psutil

from .instance_cgroup import InstanceCgroup
from .record import InstanceRecord

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class InstanceFacts:
    """One ``ps`` row's worth of facts about an instance."""

    instance_id: str
    state: str
    pid: int | None
    restarts: int
    uptime: float | None  # seconds since the current run started
    cpu_percent: float | None  # of one core, since the previous sample (or the run's start)
    rss_bytes: int | None  # resident memory of the process tree
    memory_bytes: int | None  # what the memory cgroup charges (RSS plus page cache), if any
    oom_kills: int | None
    limits_applied: bool
    limits_note: str
    last_exit: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dict(self.__dict__)


@dataclass(frozen=True, slots=True)
class Usage:
    """What one sample of an instance's process tree measured, and when (``time.monotonic()``)."""

    at: float
    pid: int | None
    cpu_percent: float | None
    rss_bytes: int | None
    memory_bytes: int | None
    oom_kills: int | None


class FactsSampler:
    """Remembers the previous CPU reading of one instance so CPU% covers the time between samples."""

    __slots__ = ("_last", "_pid", "last")

    def __init__(self) -> None:
        self._last: tuple[float, float | None, float | None] | None = None  # (when, cgroup cpu, tree cpu)
        self._pid: int | None = None
        self.last: Usage | None = None  # the latest sample

    def sample(self, record: InstanceRecord, cgroup: InstanceCgroup | None) -> InstanceFacts:
        """Facts now; the cgroup's counters when there is one (they include escaped descendants)."""
        return facts_of(record, self.measure(record, cgroup))

    def measure(self, record: InstanceRecord, cgroup: InstanceCgroup | None) -> Usage:
        """Read the instance's CPU and memory now (a few file reads), and keep it as ``last``."""
        pid = record.pid
        if pid != self._pid:
            self._last, self._pid = None, pid
        uptime = time.time() - record.started_at if pid is not None and record.started_at else None
        # With a cgroup its counters are the facts (they include escaped descendants) and cost a few
        # file reads; walking the process tree scans all of /proc, which makes `ps` O(N^2) at scale.
        group_cpu = cgroup.cpu_seconds() if cgroup is not None and pid is not None else None
        tree_cpu, rss = _tree_usage(pid) if pid is not None and group_cpu is None else (None, _rss(pid))
        cpu_percent = None
        now = time.monotonic()
        prev = self._last
        if prev is not None and now > prev[0]:
            if group_cpu is not None and prev[1] is not None:
                cpu_percent = (group_cpu - prev[1]) / (now - prev[0]) * 100
            elif tree_cpu is not None and prev[2] is not None:
                cpu_percent = (tree_cpu - prev[2]) / (now - prev[0]) * 100
        if cpu_percent is None and uptime and uptime >= 1.0:
            # A first sample: the average over the run so far (the cgroup's counter spans restarts,
            # so after a restart this overstates until the next sample).
            first = tree_cpu if tree_cpu is not None else group_cpu
            cpu_percent = first / uptime * 100 if first is not None else None
        self._last = (now, group_cpu, tree_cpu)
        self.last = Usage(
            at=now,
            pid=pid,
            cpu_percent=round(max(0.0, cpu_percent), 1) if cpu_percent is not None else None,
            rss_bytes=rss,
            memory_bytes=cgroup.memory_bytes() if cgroup is not None else None,
            oom_kills=cgroup.oom_kills() if cgroup is not None else None,
        )
        return self.last


def facts_of(record: InstanceRecord, usage: Usage) -> InstanceFacts:
    """A ``ps`` row: state, pid, restarts and uptime from the record (now), usage from its sample."""
    pid = record.pid
    last = record.last_exit
    return InstanceFacts(
        instance_id=record.instance_id,
        state=record.state.value,
        pid=pid,
        restarts=record.restarts,
        uptime=time.time() - record.started_at if pid is not None and record.started_at else None,
        cpu_percent=usage.cpu_percent,
        rss_bytes=usage.rss_bytes,
        memory_bytes=usage.memory_bytes,
        oom_kills=usage.oom_kills,
        limits_applied=record.limits_applied,
        limits_note=record.limits_note,
        last_exit=last.describe() if last else "",
    )


def _rss(pid: int | None) -> int | None:
    """Resident memory of the main process alone (one read of /proc/<pid>/statm)."""
    if pid is None:
        return None
    # One read of statm, not psutil.Process (which reads /proc/<pid>/stat first): `ps` does this per
    # instance. The pid was checked against its start time when it was recorded.
    try:
        fd = os.open(f"/proc/{pid}/statm", os.O_RDONLY)
    except OSError:
        return None
    try:
        return int(os.read(fd, 256).split()[1]) * _PAGE_SIZE
    except (OSError, IndexError, ValueError):
        return None
    finally:
        os.close(fd)


def _tree_usage(pid: int) -> tuple[float | None, int | None]:
    """CPU seconds and RSS summed over ``pid`` and its descendants (those still linked by ppid)."""
    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None, None
    cpu, rss = 0.0, 0
    for proc in tree:
        try:
            with proc.oneshot():
                times = proc.cpu_times()
                cpu += times.user + times.system
                rss += proc.memory_info().rss
        except psutil.Error:
            continue
    return cpu, rss
