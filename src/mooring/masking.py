"""Secret values known to this process, and text with them replaced by ``***`` before it leaves.

The store registers every value it decrypts (and the engine every value it is sent), so probe output,
log tails, events, error messages, API answers and the engine's log can be masked without each of
them knowing which secrets exist. Values shorter than ``MIN_LENGTH`` are not masked: masking ``a``
would blank every answer (docs/secrets.md).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from typing import Any

MASK = "***"
MIN_LENGTH = 4


class Masker:
    """A set of secret values and one compiled pattern that finds any of them."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def add(self, value: str) -> None:
        forms = {value, json.dumps(value)[1:-1]}  # as printed, and as it appears inside JSON text
        forms |= {line for line in value.splitlines() if len(line) >= 2 * MIN_LENGTH}
        forms = {f for f in forms if len(f) >= MIN_LENGTH} - self._values
        if not forms:
            return
        with self._lock:
            self._values |= forms
            # longest first, so a value containing another is masked whole
            ordered = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def mask(self, text: str) -> str:
        pattern = self._pattern
        if pattern is None or not text:
            return text
        return pattern.sub(MASK, text)

    def mask_bytes(self, data: bytes) -> bytes:
        if self._pattern is None or not data:
            return data
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return data
        masked = self.mask(text)
        return data if masked == text else masked.encode("utf-8")

    def mask_data(self, value: Any) -> Any:
        """A copy of JSON-like data with every string masked."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, dict):
            return {k: self.mask_data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.mask_data(v) for v in value]
        return value

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._pattern = None


# One per process: the engine's secrets are the same whoever prints.
masker = Masker()


class MaskingFilter(logging.Filter):
    """Masks secret values in log records (the engine's log), message and arguments both."""

    def filter(self, record: logging.LogRecord) -> bool:
        if masker._pattern is None:
            return True
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        masked = masker.mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_text:
            record.exc_text = masker.mask(record.exc_text)
        return True
