"""One epoll set for the fds every instance keeps watched (its pidfd, its two output FIFOs).

``loop.add_reader`` costs ~0.45 KiB per fd on the selector loop (a handle, its context, a selector
key, the key's data tuple): ~1.3 KiB per running instance for three fds. Here they share one epoll
fd, itself watched by the loop; each costs one dict entry. Semantics are those of ``add_reader``:
level-triggered, callbacks run on the loop's thread. A callback may be called once spuriously
(its fd number was closed and reused by another watcher within one batch of events): the callers
(a pidfd's ``check_ended``, a FIFO's non-blocking read) look before acting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import select
import weakref
from collections.abc import Callable

log = logging.getLogger(__name__)


class FdWatch:
    """Readability callbacks for many fds through one epoll fd on the event loop."""

    __slots__ = ("_callbacks", "_epoll", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # Weak: the loop-keyed table below must not keep the loop (and this epoll fd) alive.
        self._loop = weakref.ref(loop)
        self._epoll = select.epoll()
        self._callbacks: dict[int, Callable[[], None]] = {}

    def add_reader(self, fd: int, callback: Callable[[], None]) -> None:
        """Call ``callback()`` whenever ``fd`` is readable (replaces a callback already there)."""
        if fd in self._callbacks:
            self._callbacks[fd] = callback
            return
        self._epoll.register(fd, select.EPOLLIN)
        if not self._callbacks:
            loop = self._loop()
            assert loop is not None, "add_reader on the watch of a collected loop"
            loop.add_reader(self._epoll.fileno(), self._dispatch)
        self._callbacks[fd] = callback

    def remove_reader(self, fd: int) -> bool:
        """Stop watching ``fd`` (call it before closing the fd); ``False`` if it was not watched."""
        if self._callbacks.pop(fd, None) is None:
            return False
        with contextlib.suppress(OSError):  # closed already: the kernel dropped it from the set
            self._epoll.unregister(fd)
        loop = self._loop()
        if not self._callbacks and loop is not None and not loop.is_closed():
            loop.remove_reader(self._epoll.fileno())
        return True

    def _dispatch(self) -> None:
        for fd, _ in self._epoll.poll(0):
            callback = self._callbacks.get(fd)
            if callback is None:  # removed by a callback earlier in this batch
                continue
            try:
                callback()
            except Exception:
                # As the loop does for add_reader's callbacks: the others still run.
                log.exception("fd %d readability callback %r failed", fd, callback)


_WATCHES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, FdWatch] = weakref.WeakKeyDictionary()


def fd_watch(loop: asyncio.AbstractEventLoop | None = None) -> FdWatch:
    """The running loop's (or ``loop``'s) shared watch, made on first use."""
    loop = loop or asyncio.get_running_loop()
    watch = _WATCHES.get(loop)
    if watch is None:
        watch = _WATCHES[loop] = FdWatch(loop)
    return watch
