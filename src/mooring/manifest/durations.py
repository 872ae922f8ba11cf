"""Durations as operators write them: ``0s``, ``250ms``, ``10s``, ``5m``, ``1h``, ``1m30s``."""

from __future__ import annotations

import re

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+")
MAX_SECONDS = 366 * 86400.0

DURATION_PATTERN = r"^(\d+(\.\d+)?(ms|s|m|h|d))+$"
DURATION_HELP = 'a duration such as "0s", "250ms", "10s", "5m", "1h" or "1m30s"'


def parse_duration(text: str) -> float:
    """Return seconds for a duration string; raise ValueError with an operator-facing message."""
    raw = text.strip()
    if not raw or len(raw) > 64 or not _WHOLE.fullmatch(raw):
        raise ValueError(f"{text!r} is not {DURATION_HELP}")
    seconds = sum(float(num) * _UNIT_SECONDS[unit] for num, unit in _PART.findall(raw))
    if seconds > MAX_SECONDS:
        raise ValueError(f"{text!r} is longer than a year; use a shorter duration")
    return round(seconds, 6)


def format_duration(seconds: float) -> str:
    """Canonical text of a duration: the largest units first, ``0s`` for zero (``90`` → ``1m30s``)."""
    millis = round(seconds * 1000)
    if millis == 0:
        return "0s"
    parts: list[str] = []
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        count, millis = divmod(millis, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
