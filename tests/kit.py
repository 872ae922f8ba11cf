"""Helpers every test folder shares: a free loopback port, and waiting on a condition with a deadline."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    condition: Callable[[], Any], timeout: float = 20.0, what: str = "condition", step: float = 0.05
) -> Any:
    """Poll ``condition`` until truthy (and return it) or fail naming ``what``: a deadline, never a
    fixed sleep."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(step)
