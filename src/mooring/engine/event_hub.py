"""Wakes event-stream followers when the journal commits an event, so nobody polls the store in a loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable


class EventHub:
    """One asyncio.Event per app, replaced on every notify: a follower takes the current one *before*
    it reads the store, so an event committed between its read and its wait still wakes it."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._signals: dict[str, asyncio.Event] = {}
        self._subscribers: list[Callable[[str], None]] = []

    def subscribe(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(app)`` on the loop after each commit (the event tail: metrics, notify)."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        self._subscribers.append(callback)

    def signal(self, app: str) -> asyncio.Event:
        """The event the next commit for ``app`` sets; take it before reading the store."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._signals.setdefault(app, asyncio.Event())

    def notify(self, app: str) -> None:
        """Called after an event of ``app`` is committed; safe from any thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop is shutting down
            loop.call_soon_threadsafe(self._wake, app)

    def _wake(self, app: str) -> None:
        for callback in self._subscribers:
            callback(app)
        fired = self._signals.pop(app, None)
        if fired is not None:
            fired.set()
