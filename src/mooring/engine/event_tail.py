"""Hands every committed event to in-engine consumers (metrics, webhooks) without touching the executor.

The event hub only says "app X has something new"; the tail reads what is new from the store, in order,
and calls each consumer with it. A consumer must be quick and must not raise: it runs on the loop, and
the release that wrote the event never waits for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from mooring.engine.event_hub import EventHub
from mooring.store import Event, Store

log = logging.getLogger("mooring.engine")

Consumer = Callable[[Event], None]
PAGE = 500


class EventTail:
    """Reads each app's new events once per wake-up and fans them out to the consumers."""

    def __init__(self, store: Store, hub: EventHub) -> None:
        self.store = store
        self.hub = hub
        self.consumers: list[Consumer] = []
        self._seen: dict[str, int] = {}
        self._dirty: set[str] = set()
        self._kick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def add(self, consumer: Consumer) -> None:
        self.consumers.append(consumer)

    def start(self) -> None:
        """From now on: what was recorded before the engine started is history, not news."""
        for app in self.store.list_apps():
            self._seen[app.name] = self.store.latest_event_seq(app.name)
        self.hub.subscribe(self._wake)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="event-tail")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self.drain()  # what the last turn committed still reaches the consumers

    def _wake(self, app: str) -> None:
        self._dirty.add(app)
        self._kick.set()

    async def _run(self) -> None:
        while True:
            await self._kick.wait()
            self._kick.clear()
            self.drain()

    def drain(self) -> None:
        """Deliver every app's events committed since the last drain."""
        while self._dirty:
            app = self._dirty.pop()
            try:
                self._drain_app(app)
            except Exception:  # a store hiccup must not end the tail; the next wake reads again
                log.exception("event tail: cannot read the events of app %s", app)

    def _drain_app(self, app: str) -> None:
        while True:
            page = self.store.events_since(app, self._seen.get(app, 0), limit=PAGE)
            for event in page:
                self._seen[app] = event.app_seq
                for consumer in self.consumers:
                    try:
                        consumer(event)
                    except Exception:
                        log.exception("event consumer %r failed on %s #%d", consumer, app, event.app_seq)
            if len(page) < PAGE:
                return
