"""The engine's own log: repeated records rate-limited, engine.log rotated by size (issue 17).

A flood (20,000 connections, a store outage) once wrote the same line half a million times and grew
engine.log by 250 MB in a minute. A record repeated more than ``BURST`` times in ``WINDOW`` seconds
is dropped, and the next one that passes says how many were. When the engine's stderr is
``$MOORING_HOME/engine.log`` (the CLI starts it so), the file is rotated at ``MAX_BYTES`` into
engine.log.1 ... engine.log.<KEEP>, and stderr follows the new file (stray tracebacks too).
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
import time
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
BURST = 5
WINDOW = 10.0
MAX_BYTES = 4 * 1024 * 1024
KEEP = 2


class RepeatLimit(logging.Filter):
    """Pass at most ``BURST`` records of one logger, level and message template per ``WINDOW`` seconds."""

    def __init__(self, burst: int = BURST, window: float = WINDOW) -> None:
        super().__init__()
        self.burst = burst
        self.window = window
        self._seen: dict[tuple[str, int, str], tuple[float, int, int]] = {}  # start, passed, dropped

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, str(record.msg))
        now = time.monotonic()
        start, passed, dropped = self._seen.get(key, (now, 0, 0))
        if now - start >= self.window:
            start, passed = now, 0
        if passed >= self.burst:
            self._seen[key] = (start, passed, dropped + 1)
            return False
        if dropped:
            record.msg = f"{record.msg} [{dropped} similar records dropped]"
        self._seen[key] = (start, passed + 1, 0)
        if len(self._seen) > 10_000:  # a flood of distinct messages must not grow this without bound
            self._seen.clear()
        return True


class _StderrFollowingHandler(logging.handlers.RotatingFileHandler):
    """Rotates engine.log and points fd 2 at the new file, so nothing keeps writing the old one."""

    def doRollover(self) -> None:
        super().doRollover()
        if self.stream is not None:
            os.dup2(self.stream.fileno(), 2)


def setup(home: Path) -> None:
    limit = RepeatLimit()
    engine_log = home / "engine.log"
    handler: logging.Handler
    if _is_stderr(engine_log):
        handler = _StderrFollowingHandler(engine_log, maxBytes=MAX_BYTES, backupCount=KEEP)
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(limit)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per probe is noise


def _is_stderr(path: Path) -> bool:
    try:
        mine, theirs = os.fstat(2), os.stat(path)
    except OSError:
        return False
    return (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino)
