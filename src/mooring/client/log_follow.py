"""``mooring logs -f`` against a remote engine: a lost connection is resumed, not fatal.

Like the other remote reads (see http.py), once the engine answered, a dropped stream is retried
for up to ``reconnect_within`` seconds. The follow resumes from the time of the last line printed
(the logs route's ``since``) and drops the lines already printed, so nothing repeats or goes missing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from mooring.client.base import Client
from mooring.errors import EngineUnreachable

STAMP_WIDTH = len("2026-11-26T15:35:01.123456Z")  # every log line starts with one (runtime/logs.py)
# Resume a little before the last stamp: a float of epoch seconds need not round-trip to the microsecond.
SLACK = 0.001


class Printed:
    """Where the follow got to: the last stamp printed, and the lines printed at or just before it.

    Replicas' lines may arrive slightly out of time order, so a line is never dropped for being
    older than the last one; only a line printed already is, and only after a reconnect (when the
    engine sends again the lines since the last stamp).
    """

    def __init__(self) -> None:
        self.last = ""
        self.recent: set[tuple[str, str, str]] = set()  # (stamp, replica label, rest of the line)
        self.resumed = False

    @staticmethod
    def parts(line: str) -> tuple[str, str, str]:
        """``web-1 | 2026-...Z text`` as (stamp, "web-1", rest); the label's padding may change."""
        label, sep, rest = line.partition(" | ")
        if not sep:
            label, rest = "", line
        head = rest[:STAMP_WIDTH]
        stamp = head if len(head) == STAMP_WIDTH and head.endswith("Z") else ""
        return stamp, label.strip(), rest

    def fresh(self, line: str) -> bool:
        """Whether to print ``line``; remembers it if so."""
        key = self.parts(line)
        stamp = key[0]
        if not stamp:
            return True  # nothing to compare it with
        if self.resumed and key in self.recent:
            return False
        if stamp > self.last:
            self.last = stamp
            floor = _stamp(_epoch(stamp) - SLACK)
            self.recent = {seen for seen in self.recent if seen[0] >= floor}
        self.recent.add(key)
        return True

    def since(self) -> float | None:
        return _epoch(self.last) - SLACK if self.last else None


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def follow_logs(client: Client, path: str, **params: Any) -> Iterator[str]:
    """The lines of ``logs -f``, reconnecting when a remote engine is lost mid-stream."""
    printed = Printed()
    query = dict(params)
    deadline: float | None = None
    while True:
        try:
            for line in client.stream_lines(path, **query):
                if deadline is not None:
                    client.notice(f"reconnected to the engine at {client.where}; resuming the logs")
                    deadline = None
                if printed.fresh(line):
                    yield line
            ended = None  # the engine ended the stream (it shuts down): a follow goes on
        except EngineUnreachable as exc:
            ended = exc
        if client.reconnect_within <= 0 or not client.reached:
            if ended is not None:
                raise ended
            return
        now = time.monotonic()
        if deadline is None:
            deadline = now + client.reconnect_within
            client.notice(
                f"lost the engine at {client.where}; reconnecting (for up to {client.reconnect_within:.0f}s)"
            )
        if now >= deadline:
            raise EngineUnreachable(
                f"lost the engine at {client.where} and could not reconnect within "
                f"{client.reconnect_within:.0f}s" + (f": {ended}" if ended else ""),
                hint="check that `mooring serve --listen` still runs there, then run `mooring logs -f` again",
            )
        time.sleep(min(0.5, max(0.0, deadline - now)))
        # resume where the printed lines end (no tail: the lines before were printed already)
        printed.resumed = True
        query = {**params, "tail": None, "since": printed.since() or params.get("since")}
