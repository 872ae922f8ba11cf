"""The copy loop: two asyncio protocols that hand each chunk straight to the other side's transport.

Protocols rather than streams: no reader task, no intermediate buffer, one callback per chunk.
Back-pressure is the transports' own: when one side's write buffer fills, the other stops reading.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, cast

from mooring.network.counters import Counters

if TYPE_CHECKING:
    from mooring.network.upstreams import Upstream


class Relay:
    """One proxied connection: the client side, the upstream side, and who to count it against."""

    def __init__(self, service: Counters) -> None:
        self.service = service
        self.upstream: Upstream | None = None
        self.client: asyncio.Transport | None = None
        self.server: asyncio.Transport | None = None
        self.early: list[bytes] = []  # what the client sent before the upstream was connected
        self.ended_early = False  # and whether it half-closed by then
        self._ended: set[int] = set()  # which directions saw an EOF (by the transport written to)
        self._closed = False

    def attach(self, upstream: Upstream, server: asyncio.Transport) -> None:
        assert self.client is not None
        self.upstream, self.server = upstream, server
        upstream.opened()
        for data in self.early:
            self.to_server(data)
        self.early.clear()
        if self.ended_early:
            self.eof_from(server)
        self.client.resume_reading()

    def to_server(self, data: bytes) -> None:
        assert self.server is not None and self.upstream is not None
        self.server.write(data)
        self.service.bytes_in += len(data)
        self.upstream.counters.bytes_in += len(data)

    def to_client(self, data: bytes) -> None:
        assert self.client is not None and self.upstream is not None
        self.client.write(data)
        self.service.bytes_out += len(data)
        self.upstream.counters.bytes_out += len(data)

    def eof_from(self, other: asyncio.Transport | None) -> bool:
        """Pass a half-close on; close both once both directions ended. True keeps the transport open.

        Counted per direction: a loop may report the same EOF again after reading resumes (uvloop).
        """
        if id(other) in self._ended:
            return True
        self._ended.add(id(other))
        if len(self._ended) >= 2 or other is None or not other.can_write_eof():
            self.close()
            return False
        other.write_eof()
        return True

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for transport in (self.client, self.server):
            if transport is not None:
                transport.close()
        self.service.active -= 1
        if self.upstream is not None:
            self.upstream.closed()


class ClientSide(asyncio.Protocol):
    """The accepted connection; reading is paused until an upstream is connected."""

    def __init__(self, relay: Relay, on_connect: object) -> None:
        self.relay = relay
        self.on_connect = on_connect

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        client = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio's classes
        client.pause_reading()
        self.relay.client = client
        self.relay.service.connections += 1
        self.relay.service.active += 1
        self.on_connect(self.relay)  # type: ignore[operator]

    def data_received(self, data: bytes) -> None:
        if self.relay.server is None:  # a loop may deliver data before pause_reading takes effect
            self.relay.early.append(data)
            return
        self.relay.to_server(data)

    def eof_received(self) -> bool:
        if self.relay.server is None:
            self.relay.ended_early = True
            return True
        return self.relay.eof_from(self.relay.server)

    def connection_lost(self, exc: Exception | None) -> None:
        self.relay.close()

    def pause_writing(self) -> None:
        if self.relay.server is not None:
            self.relay.server.pause_reading()

    def resume_writing(self) -> None:
        if self.relay.server is not None:
            self.relay.server.resume_reading()


class ServerSide(asyncio.Protocol):
    """The connection to the instance."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay

    def data_received(self, data: bytes) -> None:
        self.relay.to_client(data)

    def eof_received(self) -> bool:
        return self.relay.eof_from(self.relay.client)

    def connection_lost(self, exc: Exception | None) -> None:
        self.relay.close()

    def pause_writing(self) -> None:
        if self.relay.client is not None:
            self.relay.client.pause_reading()

    def resume_writing(self) -> None:
        if self.relay.client is not None:
            self.relay.client.resume_reading()
