"""The ``exec`` check: run a command in its own session; exit 0 is healthy.

Uses ``loop.subprocess_exec`` with a small protocol rather than ``create_subprocess_exec``: on
Python 3.11 ``Process.wait()`` also waits for the pipes to close, so a check that leaves a
background child behind would look hung until that child exits. Here the leader's exit decides, and
the whole process group is killed as soon as the check ends, whatever the outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess

from .result import Outcome, one_line
from .spec import ProbeSpec

# Bytes kept from each of stdout and stderr; only the tail reaches the detail.
_OUTPUT_KEEP = 4096
# How long to wait for the pipes to drain once the process group is dead (a child that escaped to
# its own session can hold them open).
_PIPE_GRACE = 0.5
# How long to wait for a SIGKILLed check to be reaped.
_REAP_GRACE = 1.0


class _CheckProtocol(asyncio.SubprocessProtocol):
    """Keeps the tail of stdout and stderr and signals the process exit and the pipes' close."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.output = {1: bytearray(), 2: bytearray()}
        self.exited: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        buffer = self.output[fd]
        buffer += data
        if len(buffer) > _OUTPUT_KEEP:
            del buffer[:-_OUTPUT_KEEP]

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


async def probe_exec(spec: ProbeSpec) -> Outcome:
    """Run ``spec.command`` with ``spec.env`` over the engine's environment, in ``spec.cwd``."""
    assert spec.command
    try:
        transport, protocol = await _spawn(spec)
    except OSError as exc:
        where = f" (in {spec.cwd})" if spec.cwd else ""
        return Outcome(False, f"cannot run {spec.command[0]}{where}: {exc.strerror or exc}")

    try:
        # Shielded: a timeout cancels this wait, not the future the protocol will still resolve.
        await asyncio.shield(protocol.exited)
        _kill_group(transport.get_pid())  # children it left behind, which may hold the pipes open
        await asyncio.wait({protocol.closed}, timeout=_PIPE_GRACE)
    finally:
        await _end(transport, protocol)

    code = transport.get_returncode()
    assert code is not None
    output = protocol.output[2] or protocol.output[1]
    tail = one_line(bytes(output), tail=True)
    status = f"killed by {_signal_name(-code)}" if code < 0 else f"exit {code}"
    detail = f"{status}: {tail}" if tail and code != 0 else status
    return Outcome(code == 0, detail, exit_code=code)


async def _spawn(spec: ProbeSpec) -> tuple[asyncio.SubprocessTransport, _CheckProtocol]:
    """Start the check in its own session; a cancellation never interrupts the start half-way.

    Cancelled while connecting the pipes, CPython 3.11's ``subprocess_exec`` kills the child but then
    waits for the pipes to close, which a grandchild holding them keeps from happening. So the start
    runs shielded; if we are cancelled meanwhile, the finished start is killed with its group.
    """
    loop = asyncio.get_running_loop()
    assert spec.command
    spawning = asyncio.ensure_future(
        loop.subprocess_exec(
            lambda: _CheckProtocol(loop),
            *spec.command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, **spec.env} if spec.env is not None else None,
            cwd=spec.cwd,
            start_new_session=True,
        )
    )
    try:
        return await asyncio.shield(spawning)
    except asyncio.CancelledError:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait({spawning}, timeout=_REAP_GRACE)
        if not spawning.done():
            spawning.add_done_callback(_discard_spawned)
        elif not spawning.cancelled() and spawning.exception() is None:
            with contextlib.suppress(asyncio.CancelledError):
                await _end(*spawning.result())
        raise


async def _end(transport: asyncio.SubprocessTransport, protocol: _CheckProtocol) -> None:
    """Kill whatever is left of the check's process group, wait briefly for the reap, close the pipes.

    The session leader's pid is the group id. On a timeout this is what kills the check itself.
    """
    _kill_group(transport.get_pid())
    try:
        if not protocol.exited.done():
            await asyncio.wait({protocol.exited}, timeout=_REAP_GRACE)
    finally:
        transport.close()


def _discard_spawned(spawning: asyncio.Future[tuple[asyncio.SubprocessTransport, _CheckProtocol]]) -> None:
    """Kill a check whose start finished only after its probe was cancelled and gave up waiting."""
    if spawning.cancelled() or spawning.exception() is not None:
        return
    transport, _ = spawning.result()
    _kill_group(transport.get_pid())
    transport.close()


def _kill_group(pgid: int) -> None:
    """SIGKILL every process left in the check's group; an empty group is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _signal_name(number: int) -> str:
    """``SIGKILL`` for 9; the bare number for a signal Python does not name."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
