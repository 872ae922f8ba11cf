"""Read an app's event stream (Server-Sent Events, GET /v1/apps/{app}/events) as dicts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from mooring.client.base import Client

KEEPALIVE: dict[str, Any] = {}  # yielded (the same object) for every keepalive comment of a quiet stream


def parse_sse(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """Events from SSE lines: ``data`` is JSON; a comment line yields KEEPALIVE."""
    data: list[str] = []
    for line in lines:
        if line == "":
            if data:
                yield json.loads("\n".join(data))
                data = []
        elif line.startswith(":"):
            yield KEEPALIVE
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
        # "id:" and "event:" repeat what the data holds (app_seq, type)


def app_events(client: Client, app: str, since: int = 0, follow: bool = True) -> Iterator[dict[str, Any]]:
    """The app's events after ``since``, oldest first; with ``follow`` it waits for new ones."""
    yield from parse_sse(
        client.stream_lines(f"/v1/apps/{app}/events", since=since, follow=str(follow).lower())
    )
