"""``ps`` facts served from memory: CPU and memory are sampled by one watcher, not per request.

Reading them costs ~4 file reads per instance (cgroup counters, ``statm``): at 500 instances that
was 75 % of ``GET /v1/instances``. A listing now takes state, pid, restarts and uptime from the
record (live) and CPU/memory from the latest sample. Samples are taken by one task, every
``SAMPLE_EVERY`` seconds, while someone reads them (``WATCH_FOR`` seconds after the last read), so an
engine nobody asks costs nothing for this. A read with no sample, a sample of an earlier run of the
instance, or one older than ``FRESH_FOR`` (the watcher had stopped) samples that instance inline (and so does one that has no CPU rate yet, in the first second of a run).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable

from .facts import FactsSampler, InstanceFacts, facts_of
from .instance_cgroup import InstanceCgroup
from .record import InstanceRecord

FRESH_FOR = 4.0  # twice the period: a pass over many instances on a busy host may run late
SAMPLE_EVERY = 2.0
WATCH_FOR = 30.0
CHUNK = 50  # instances sampled between two yields to the event loop (~2 ms)

Supervised = Callable[[], Iterable[tuple[str, InstanceRecord, InstanceCgroup | None]]]


class FactsWatch:
    """The latest CPU and memory sample of every instance, kept fresh while someone reads them."""

    def __init__(self, supervised: Supervised) -> None:
        self._supervised = supervised
        self._samplers: dict[str, FactsSampler] = {}
        self._last_read = 0.0
        self._task: asyncio.Task[None] | None = None

    def facts(self, instance_id: str, record: InstanceRecord, cgroup: InstanceCgroup | None) -> InstanceFacts:
        now = time.monotonic()
        self._last_read = now
        sampler = self._samplers.get(instance_id)
        if sampler is None:
            sampler = self._samplers[instance_id] = FactsSampler()
        usage = sampler.last
        if (
            usage is None
            or usage.pid != record.pid
            or now - usage.at > FRESH_FOR
            or (usage.cpu_percent is None and record.pid is not None)  # a run's first instant: no rate yet
        ):
            usage = sampler.measure(record, cgroup)
        self._watch()
        return facts_of(record, usage)

    def forget(self, instance_id: str) -> None:
        self._samplers.pop(instance_id, None)

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._samplers.clear()

    def _watch(self) -> None:
        if self._task is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # read outside the engine's loop (a tool, a test): inline samples only
        self._task = loop.create_task(self._run(), name="facts-watch")

    async def _run(self) -> None:
        try:
            while time.monotonic() - self._last_read < WATCH_FOR:
                started = time.monotonic()
                for n, (instance_id, record, cgroup) in enumerate(list(self._supervised()), 1):
                    sampler = self._samplers.get(instance_id)
                    if sampler is not None:  # only what was read once: a listing asks for all
                        sampler.measure(record, cgroup)
                    if n % CHUNK == 0:
                        await asyncio.sleep(0)
                await asyncio.sleep(max(0.1, SAMPLE_EVERY - (time.monotonic() - started)))
        finally:
            if self._task is asyncio.current_task():
                self._task = None
