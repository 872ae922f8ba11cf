"""``ps`` facts of container instances from the engine's stats, sampled off the event loop.

``ps`` is synchronous and one stats call per container costs a round trip to dockerd, so facts
come from a cache that each ``ps`` refreshes in the background (at most once per ``MAX_AGE``): the
numbers are at most one ``ps`` old, and an idle engine asks dockerd nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from typing import Any

from mooring.runtime.facts import InstanceFacts
from mooring.runtime.record import InstanceRecord
from mooring.runtime.states import InstanceState

from . import engine_api

MAX_AGE = 2.0


class FactsCache:
    def __init__(self, call: Callable[..., Coroutine[Any, Any, Any]], spawn: Callable[..., Any]) -> None:
        self._call = call
        self._spawn = spawn
        self._samples: dict[str, tuple[float, float | None, int | None]] = {}  # when, cpu%, memory
        self._usage: dict[str, tuple[float, float]] = {}  # when, CPU seconds: CPU% spans two samples
        self._pending: set[str] = set()

    def facts(self, record: InstanceRecord) -> InstanceFacts:
        instance_id = record.instance_id
        running = record.state is InstanceState.RUNNING and record.container_id is not None
        sample = self._samples.get(instance_id)
        stale = sample is None or time.monotonic() - sample[0] > MAX_AGE
        if running and stale and instance_id not in self._pending:
            self._pending.add(instance_id)
            self._spawn(self._refresh(instance_id, str(record.container_id), record.started_at))
        cpu, memory = (sample[1], sample[2]) if sample is not None and running else (None, None)
        last = record.last_exit
        uptime = time.time() - record.started_at if running and record.started_at else None
        return InstanceFacts(
            instance_id=instance_id,
            state=record.state.value,
            pid=None,
            restarts=record.restarts,
            uptime=uptime,
            cpu_percent=cpu,
            rss_bytes=None,
            memory_bytes=memory,
            oom_kills=None,
            limits_applied=True,
            limits_note="",
            last_exit=last.describe() if last else "",
        )

    async def _refresh(self, instance_id: str, container_id: str, started_at: float | None) -> None:
        try:
            stats = await self._call(engine_api.stats, container_id)
        except Exception:  # gone meanwhile, or the engine is busy: the next ps tries again
            self._pending.discard(instance_id)
            return
        now = time.monotonic()
        usage = cpu_seconds(stats)
        cpu = None
        previous = self._usage.get(instance_id)
        if usage is not None and previous is not None and now > previous[0] and usage >= previous[1]:
            cpu = (usage - previous[1]) / (now - previous[0]) * 100
        elif usage is not None and started_at and time.time() - started_at >= 1.0:
            cpu = usage / (time.time() - started_at) * 100  # a first sample: the average so far
        if usage is not None:
            self._usage[instance_id] = (now, usage)
        self._samples[instance_id] = (now, round(cpu, 1) if cpu is not None else None, memory_bytes(stats))
        self._pending.discard(instance_id)

    def forget(self, instance_id: str) -> None:
        self._samples.pop(instance_id, None)
        self._usage.pop(instance_id, None)


def cpu_seconds(stats: dict[str, Any]) -> float | None:
    """CPU time the container has used, in seconds."""
    usage = (stats.get("cpu_stats") or {}).get("cpu_usage", {}).get("total_usage")
    return usage / 1e9 if usage is not None else None


def memory_bytes(stats: dict[str, Any]) -> int | None:
    """Memory charged to the container minus its page cache, as ``docker stats`` shows it."""
    memory = stats.get("memory_stats") or {}
    usage = memory.get("usage")
    if usage is None:
        return None
    details = memory.get("stats") or {}
    cache = details.get("total_inactive_file", details.get("inactive_file", 0))
    return int(usage - cache)
