"""Time that jumps: deadlines that do not count the time the engine itself did not run.

When the engine is frozen (SIGSTOP, a VM pause, heavy swapping) or its loop is blocked (a store
write waiting for a lock), the monotonic clock runs on while no probe runs and no result arrives.
A readiness deadline that counted that time would fail healthy instances. Waits here advance in
short steps; a step that took far longer than asked is a stall, and only its asked length counts.
A watcher notices stalls as they end, logs them and reports them (an event per running release).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection
from typing import Any

log = logging.getLogger("mooring.engine")

STEP = 0.5  # seconds a deadline wait advances at a time
STALL = 2.0  # a step this much longer than asked is a stall, not time the instance had


async def wait_first(waits: Collection[asyncio.Future[Any]], timeout: float) -> set[asyncio.Future[Any]]:
    """Like ``asyncio.wait(FIRST_COMPLETED, timeout)``, but time the loop did not run is not counted."""
    counted = 0.0
    last = time.monotonic()
    while True:
        remaining = timeout - counted
        if remaining <= 0:
            return set()
        step = min(remaining, STEP)
        done, _ = await asyncio.wait(waits, timeout=step, return_when=asyncio.FIRST_COMPLETED)
        if done:
            return done
        now = time.monotonic()
        spent, last = now - last, now
        counted += spent if spent <= step + STALL else step


class StallWatch:
    """Ticks on the loop; a tick that comes ``STALL`` seconds late is reported to ``on_stall``."""

    def __init__(self, on_stall: Callable[[float], None], tick: float = 0.25) -> None:
        self.on_stall = on_stall
        self.tick = tick
        self.total = 0.0  # seconds the loop did not run, since the engine started
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="stall-watch")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(self.tick)
            now = time.monotonic()
            late, last = now - last - self.tick, now
            if late > STALL:
                self.total += late
                log.warning("the engine did not run for %.1fs (stopped, paused or starved)", late)
                try:
                    self.on_stall(late)
                except Exception:
                    log.exception("reporting a stall of %.1fs failed", late)
