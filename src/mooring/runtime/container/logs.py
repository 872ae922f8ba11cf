"""Container logs read from the engine, in the same line format as the process driver's files.

Each line becomes ``<RFC 3339 UTC, microseconds> <stream> <text>``, so ``mooring logs`` merges
container and process instances alike (see :mod:`mooring.runtime.log_reader`). stdout and stderr
are read as two streams because the engine's combined log loses which stream a line came from.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from mooring.runtime.log_reader import as_stamp, timestamp_of
from mooring.runtime.logs import stamp
from mooring.runtime.record import InstanceRecord

from . import engine_api

STREAMS = ("stdout", "stderr")


def convert(data: bytes, stream: str) -> list[str]:
    """Engine lines (``<RFC 3339 nano> text``) -> mooring's log lines."""
    lines = []
    for raw in data.decode("utf-8", "replace").splitlines():
        head, _, text = raw.partition(" ")
        when = engine_api.parse_time(head)
        lines.append(f"{stamp(when) if when is not None else head} {stream} {text}")
    return lines


class ContainerLogs:
    def __init__(
        self,
        call: Callable[..., Awaitable[Any]],
        records: Mapping[str, InstanceRecord],
        client: Callable[[], Awaitable[Any]],
    ) -> None:
        self._call = call
        self._records = records
        self._client = client

    def _container(self, instance_id: str) -> str | None:
        record = self._records.get(instance_id)
        return record.container_id if record is not None else None

    async def _read(self, container_id: str, **options: Any) -> list[str]:
        both = await asyncio.gather(
            *(
                self._call(
                    engine_api.logs, container_id, stdout=s == "stdout", stderr=s == "stderr", **options
                )
                for s in STREAMS
            )
        )
        merged = heapq.merge(
            *(convert(data, s) for data, s in zip(both, STREAMS, strict=True)), key=timestamp_of
        )
        return list(merged)

    async def tail_of_container(self, container_id: str, n: int) -> list[str]:
        return (await self._read(container_id, tail=n))[-n:]

    async def read_tail(self, instance_id: str, n: int) -> list[str]:
        container_id = self._container(instance_id)
        return await self.tail_of_container(container_id, n) if container_id else []

    async def read_since(self, instance_id: str, since: float) -> list[str]:
        container_id = self._container(instance_id)
        if not container_id:
            return []
        cut = as_stamp(since)
        return [line for line in await self._read(container_id, since=since) if timestamp_of(line) >= cut]

    async def follow(self, instance_id: str) -> AsyncIterator[str]:
        """New lines as the engine reports them; ends when the container's log ends."""
        container_id = self._container(instance_id)
        if not container_id:
            return
        client = await self._client()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        streams: list[Any] = []
        closed = threading.Event()

        def pump(stream_name: str) -> None:
            try:
                stream = engine_api.follow_logs(
                    client, container_id, stdout=stream_name == "stdout", stderr=stream_name == "stderr"
                )
                streams.append(stream)
                partial = b""
                for chunk in stream:
                    if closed.is_set():
                        break
                    partial += chunk
                    *whole, partial = partial.split(b"\n")
                    for line in convert(b"\n".join(whole), stream_name) if whole else []:
                        loop.call_soon_threadsafe(queue.put_nowait, line)
            except Exception:  # the container went away or the engine closed the stream
                pass
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, None)

        threads = [threading.Thread(target=pump, args=(s,), daemon=True) for s in STREAMS]
        for thread in threads:
            thread.start()
        ended = 0
        try:
            while ended < len(threads):
                line = await queue.get()
                if line is None:
                    ended += 1
                    continue
                yield line
        finally:
            closed.set()
            for stream in streams:
                with contextlib.suppress(Exception):
                    stream.close()
