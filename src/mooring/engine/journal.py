"""The executor's journal: the store, plus the fault hook crash tests use.

``MOORING_FAULT=after:<event>[#N]`` makes the engine exit hard (no cleanup, like a power cut) right
after the N-th (default first) event of that type is committed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mooring.engine.book import InstanceBook
from mooring.release.ports import JournalWrite, ReleaseWrite, TargetWrite
from mooring.store import Store
from mooring.store.journal_writes import JournalEntry, NewEvent, ReleaseUpdate, TargetUpdate

log = logging.getLogger("mooring.engine")
FAULT_EXIT_CODE = 70


def parse_fault(spec: str | None) -> tuple[str, int] | None:
    if not spec or not spec.startswith("after:"):
        return None
    name, _, count = spec[len("after:") :].partition("#")
    return name, int(count) if count else 1


class Journal:
    """Delegates to the store; counts events for the fault hook.

    ``book``: the instance book whose changes queued in the same loop turn ride on the executor's
    group commit (one transaction for both, not one each: docs/performance.md).
    """

    def __init__(
        self, store: Store, on_event: Callable[[str], None] | None = None, book: InstanceBook | None = None
    ) -> None:
        self.store = store
        self.book = book
        self.on_event = on_event  # wakes event-stream followers (engine/event_hub.py)
        self.fault = parse_fault(os.environ.get("MOORING_FAULT"))
        self.seen: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def append_event(
        self, app: str, type: str, payload: Mapping[str, Any], release_id: str | None = None
    ) -> tuple[int, int | None]:
        result = self.store.append_event(app, type, dict(payload), release_id=release_id)
        if self.on_event is not None:
            self.on_event(app)
        self._committed(type)
        return result

    def write(self, writes: Sequence[JournalWrite]) -> None:
        """The executor's group commit: every write in one transaction (store/journal_writes.py),
        with the instance book's pending changes."""
        entries = [_entry(w) for w in writes]
        if self.book is not None and self.book.pending:
            self.book.flush(
                write=lambda upserts, deletes: self.store.write_journal(entries, upserts, deletes)
            )
        else:
            self.store.write_journal(entries)
        events = [w for w in writes if not isinstance(w, TargetWrite | ReleaseWrite)]
        if self.on_event is not None:
            for app in dict.fromkeys(e.app for e in events):
                self.on_event(app)
        for event in events:
            self._committed(event.type)

    def _committed(self, type: str) -> None:
        """The fault hook: exit like a power cut once the chosen event is committed."""
        if self.fault is not None:
            self.seen[type] = self.seen.get(type, 0) + 1
            if (type, self.seen[type]) == self.fault:
                log.error("MOORING_FAULT: exiting hard after event %s #%d", type, self.seen[type])
                os._exit(FAULT_EXIT_CODE)


def _entry(write: JournalWrite) -> JournalEntry:
    if isinstance(write, TargetWrite):
        return TargetUpdate(write.target_id, write.changes)
    if isinstance(write, ReleaseWrite):
        return ReleaseUpdate(write.release_id, write.changes)
    return NewEvent(write.app, write.type, write.payload, write.release_id)
