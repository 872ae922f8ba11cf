"""Compose value forms turned into manifest value forms: durations, byte sizes, CPUs, names."""

from __future__ import annotations

import re
from typing import Any

from mooring.manifest.durations import format_duration

_GO_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_BYTES = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([bkmg]?)b?\s*$", re.IGNORECASE)
_BYTE_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
_NAME_BAD = re.compile(r"[^a-z0-9-]+")


def go_duration(value: Any) -> float:
    """Seconds of a Compose duration (Go syntax ``1m30s``, ``1.5s``, ``300ms``; a number is seconds)."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    if text in ("0", ""):
        return 0.0
    if not re.fullmatch(rf"(?:{_GO_PART.pattern})+", text):
        raise ValueError(f"{value!r} is not a duration (Compose's form: 10s, 1m30s, 300ms)")
    return sum(float(num) * _GO_UNITS[unit] for num, unit in _GO_PART.findall(text))


def duration_text(seconds: float) -> str:
    """The manifest's form; a positive duration below a millisecond becomes ``1ms``."""
    return "1ms" if 0 < seconds < 0.001 else format_duration(seconds)


def byte_size(value: Any) -> int:
    """Bytes of a Compose size (``512m``, ``1g``, ``1.5GB``: powers of 1024; a number is bytes)."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a size")
    if isinstance(value, int):
        return value
    match = _BYTES.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a size (Compose's form: 512m, 1g)")
    return int(float(match.group(1)) * _BYTE_UNITS[match.group(2).lower()])


def memory_text(size: int) -> str | int:
    """A readable manifest size: ``256MiB`` when it is a whole number of MiB or GiB, else bytes."""
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2)):
        if size % scale == 0:
            return f"{size // scale}{unit}"
    return size


def cpus(value: Any) -> float:
    number = float(value)
    if number <= 0:
        raise ValueError(f"{value!r} is not a positive number of CPUs")
    return number


def slug(name: str) -> str:
    """A manifest name for a Compose name: lowercase letters, digits and ``-`` (``my_app`` -> ``my-app``)."""
    text = _NAME_BAD.sub("-", name.lower()).strip("-")
    text = re.sub("-{2,}", "-", text)[:63].strip("-")
    return text or "app"


def as_text(value: Any) -> str:
    """An environment value as Compose passes it: booleans as ``true``/``false``, numbers as written."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
