"""HAProxy's runtime API over its unix sockets: the worker's stats socket and the master CLI.

One command (or several joined by ``;``) per connection: the socket answers and closes. The master
CLI keeps the connection open, so its requests half-close the write side to get an answer and EOF.
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
from dataclasses import dataclass
from pathlib import Path

TIMEOUT = 5.0
REFUSALS_FOR = 1.0  # seconds a refusing socket is tried again (see _connect)
# what a server of the config file gets by default: idle server connections kept and reused
POOL = "pool-max-conn -1 pool-purge-delay 5s"
# a route's health_path: every second, two failures out, two passes back in
CHECK = "check inter 1s fall 2 rise 2"


class RuntimeApiError(Exception):
    """HAProxy did not answer on its socket, or refused a command; the message says which."""


@dataclass(frozen=True)
class ServerState:
    """A server as ``show servers state`` reports it."""

    backend: str
    name: str
    address: str
    port: int
    admin: str  # ready | drain | maint
    weight: int = 1  # srv_uweight: the weight the runtime API set (or the config's)

    @staticmethod
    def admin_of(flags: int) -> str:
        # srv_admin_state bits: 0x01 forced maint, 0x02/0x04/0x20/0x40 inherited/config/resolution maint,
        # 0x08 forced drain, 0x10 inherited drain
        if flags & 0x67:
            return "maint"
        return "drain" if flags & 0x18 else "ready"


async def _connect(path: Path) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect, trying again while the socket refuses: HAProxy's master CLI now and then refuses a
    connection for a moment while it is otherwise well (seen about once in 15 adoptions, the socket
    listening, the master alive); one that lasts a second is a HAProxy that is gone."""
    deadline = time.monotonic() + REFUSALS_FOR
    while True:
        try:
            return await asyncio.open_unix_connection(str(path))
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def _ask(path: Path, text: str, half_close: bool) -> str:
    try:
        async with asyncio.timeout(TIMEOUT):
            reader, writer = await _connect(path)
            try:
                writer.write(text.encode() + b"\n")
                if half_close:
                    writer.write_eof()
                await writer.drain()
                return (await reader.read()).decode()
            finally:
                writer.close()
    except (OSError, TimeoutError) as exc:
        raise RuntimeApiError(f"HAProxy's socket {path} did not answer {text.split()[0]!r}: {exc}") from None


class RuntimeApi:
    """Commands to the current worker (stats socket) and to the master (master CLI)."""

    def __init__(self, stats_socket: Path, master_socket: Path) -> None:
        self.stats_socket = stats_socket
        self.master_socket = master_socket

    async def command(self, text: str) -> str:
        return await _ask(self.stats_socket, text, half_close=False)

    async def master(self, text: str) -> str:
        return await _ask(self.master_socket, text, half_close=True)

    async def expect(self, text: str, *accepted: str) -> None:
        """Run a command whose answer is empty or one of ``accepted``; anything else is an error."""
        answer = (await self.command(text)).strip()
        if answer and not any(answer.startswith(a) for a in accepted):
            raise RuntimeApiError(f"HAProxy refused {text!r}: {answer}")

    async def show_stat(self) -> list[dict[str, str]]:
        """``show stat`` as rows keyed by the CSV header (pxname, svname, scur, stot, bin, bout, ...)."""
        text = await self.command("show stat")
        if not text.startswith("# "):
            raise RuntimeApiError(f"HAProxy answered 'show stat' with: {text[:200]}")
        return list(csv.DictReader(io.StringIO(text[2:])))

    async def show_servers(self) -> list[ServerState]:
        text = await self.command("show servers state")
        rows = []
        for line in text.splitlines()[1:]:
            if not line or line.startswith("#"):
                continue
            f = line.split()
            rows.append(ServerState(f[1], f[3], f[4], int(f[18]), ServerState.admin_of(int(f[6])), int(f[7])))
        return rows

    async def add_server(self, backend: str, name: str, address: str, port: int, check: bool = False) -> None:
        """A dynamic server starts in maintenance (``set_states`` brings it in).

        ``add server`` takes nothing from the defaults, and a dynamic server's idle-connection pool
        is off unless given: HAProxy 2.6 then opens a new connection to the instance for every
        HTTP request. These are the values a server of the config file gets.
        """
        checked = f" {CHECK}" if check else ""
        await self.expect(
            f"add server {backend}/{name} {address}:{port} {POOL}{checked}", "New server registered"
        )
        if check:  # a dynamic server's check is off until enabled
            await self.expect(f"enable health {backend}/{name}")

    async def set_state(self, backend: str, name: str, state: str) -> None:
        await self.expect(f"set server {backend}/{name} state {state}")

    async def set_states(
        self, changes: list[tuple[str, str, str]], weights: list[tuple[str, str, int]]
    ) -> None:
        """(backend, server, state) then (backend, server, weight) changes in one command line, applied
        in order by one CLI session: a canary's weight and its coming in are one change."""
        commands = [f"set server {b}/{n} state {s}" for b, n, s in changes]
        commands += [f"set server {b}/{n} weight {w}" for b, n, w in weights]
        if commands:
            await self.expect("; ".join(commands))

    async def delete_server(self, backend: str, name: str) -> bool:
        """Maintenance, cut what is left, delete; False while connections still close (try again)."""
        await self.set_state(backend, name, "maint")
        await self.command(f"shutdown sessions server {backend}/{name}")
        answer = (await self.command(f"del server {backend}/{name}")).strip()
        return answer.startswith("Server deleted") or "No such" in answer

    async def show_proc(self) -> list[tuple[int, str, int, int]]:
        """(pid, type, reloads, failed reloads) of the master and its workers."""
        rows = []
        for line in (await self.master("show proc")).splitlines():
            f = line.split()
            if len(f) < 3 or not f[0].isdigit():
                continue
            failed = int(f[4].rstrip("]")) if len(f) > 4 and f[3] == "[failed:" else 0
            rows.append((int(f[0]), f[1], int(f[2]), failed))
        return rows
