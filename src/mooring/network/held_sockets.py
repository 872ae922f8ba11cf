"""The listening sockets of HAProxy, also held by the engine, so they outlive a HAProxy that dies.

While HAProxy is down (killed, crashed, OOM), a connection to a published port waits in the
socket's backlog instead of being refused; the restarted HAProxy inherits the very socket
(``bind fd@N``) and accepts it. The engine's copy is taken from HAProxy's worker with
pidfd_getfd(2): the same socket, not a second one bound beside it, so the engine never competes
for connections (it never accepts) and nothing is bound twice.

A socket the engine lets go of while HAProxy's master may still hold it (the master keeps what it
inherited until it exits) is shut down first: the port then refuses connections at once instead
of queueing them where nobody accepts.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import socket
from collections.abc import Iterable

from mooring.network.mappings import PortMapping

log = logging.getLogger("mooring.network")
SYS_PIDFD_GETFD = 438  # the same number on every architecture (the unified syscall table)
_libc = ctypes.CDLL(None, use_errno=True)


def _copy_fd(pidfd: int, target_fd: int) -> int:
    fd = int(_libc.syscall(SYS_PIDFD_GETFD, pidfd, target_fd, 0))
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return fd


def _matches(mapping: PortMapping, address: tuple[object, ...]) -> bool:
    host, port = address[0], address[1]
    if port != mapping.host_port:
        return False
    if mapping.host is None:
        return host in ("0.0.0.0", "::")
    return host == mapping.host


def listening_sockets(pid: int, wanted: Iterable[PortMapping]) -> dict[PortMapping, socket.socket]:
    """Copies of the process's listening TCP sockets bound to the ``wanted`` addresses."""
    wanted = set(wanted)
    found: dict[PortMapping, socket.socket] = {}
    pidfd = os.pidfd_open(pid)
    try:
        for name in os.listdir(f"/proc/{pid}/fd"):
            if not wanted - set(found):
                break
            with contextlib.suppress(OSError):
                if not os.readlink(f"/proc/{pid}/fd/{name}").startswith("socket:"):
                    continue
                sock = socket.socket(fileno=_copy_fd(pidfd, int(name)))
                mapping = None
                if sock.type == socket.SOCK_STREAM and sock.getsockopt(
                    socket.SOL_SOCKET, socket.SO_ACCEPTCONN
                ):
                    address = sock.getsockname()
                    mapping = next((m for m in wanted - set(found) if _matches(m, address)), None)
                if mapping is None:
                    sock.close()  # our copy only: HAProxy's stays open
                    continue
                found[mapping] = sock
    finally:
        os.close(pidfd)
    return found


class HeldSockets:
    """The engine's copies of HAProxy's listening sockets, one per published address."""

    def __init__(self) -> None:
        self.sockets: dict[PortMapping, socket.socket] = {}

    def fds(self, mappings: Iterable[PortMapping]) -> dict[PortMapping, int]:
        """The held sockets' descriptors for these addresses (a starting HAProxy inherits them)."""
        return {m: self.sockets[m].fileno() for m in mappings if m in self.sockets}

    def take(self, pid: int, live: Iterable[PortMapping]) -> None:
        """Hold a copy of each live listener not held yet, taken from HAProxy's worker ``pid``."""
        missing = set(live) - set(self.sockets)
        if not missing:
            return
        try:
            self.sockets.update(listening_sockets(pid, missing))
        except OSError as exc:  # no pidfd_getfd (Linux < 5.6) or no right to it: the old behaviour
            log.warning("cannot hold HAProxy's listening sockets (pid %s): %s", pid, exc)

    def keep_only(self, live: Iterable[PortMapping]) -> None:
        """Let go of the sockets of addresses no longer published: they stop accepting now."""
        keep = set(live)
        for mapping in [m for m in self.sockets if m not in keep]:
            sock = self.sockets.pop(mapping)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # leaves LISTEN even where the master holds it
            sock.close()

    def close(self) -> None:
        """The engine lets go without touching the sockets (HAProxy keeps serving on its own copy)."""
        for sock in self.sockets.values():
            sock.close()
        self.sockets.clear()
