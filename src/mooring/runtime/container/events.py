"""Container events from the engine, read on a thread and handed to the event loop.

The engine's ``/events`` stream is how the driver learns that a container ended, at once rather
than by polling. When the stream breaks (dockerd restarted), the watcher reconnects and asks for
the events since the last one it saw, so no exit is missed.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import docker

from .spec import LABEL_INSTANCE

log = logging.getLogger("mooring.runtime.container")
RECONNECT_DELAY = 1.0


class EventWatcher:
    """Streams ``die`` and ``oom`` events of mooring's containers to ``on_event`` on the loop."""

    def __init__(
        self,
        client: docker.APIClient,
        loop: asyncio.AbstractEventLoop,
        on_event: Callable[[dict[str, Any]], None],
    ) -> None:
        self._client = client
        self._loop = loop
        self._on_event = on_event
        self._closing = threading.Event()
        self._stream: Any = None
        self._since = time.time()
        self._thread = threading.Thread(target=self._run, name="mooring-container-events", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._closing.set()
        stream = self._stream
        if stream is not None:
            try:
                stream.close()
            except Exception:  # closing a broken stream must not break shutdown
                log.debug("closing the event stream failed", exc_info=True)

    def _run(self) -> None:
        filters = {"type": "container", "event": ["die", "oom"], "label": [LABEL_INSTANCE]}
        while not self._closing.is_set():
            try:
                self._stream = self._client.events(decode=True, filters=filters, since=int(self._since))
                if self._closing.is_set():
                    break
                for event in self._stream:
                    self._since = max(self._since, event.get("time", self._since))
                    self._loop.call_soon_threadsafe(self._on_event, event)
            except Exception as exc:
                if self._closing.is_set():
                    break
                log.warning("container event stream broke (%s); reconnecting", exc)
            if not self._closing.wait(RECONNECT_DELAY):
                continue
