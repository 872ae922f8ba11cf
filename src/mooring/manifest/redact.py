"""Secret-looking values: which keys count, and how a value is shown or fingerprinted instead."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping

SECRET_KEY = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|KEY|CREDENTIAL", re.IGNORECASE)
SECRET_PREFIX = "secret:sha256:"
REDACTED = "***"


def is_secret_key(name: str) -> bool:
    """True for env names such as DB_PASSWORD, API_TOKEN, AWS_SECRET_ACCESS_KEY."""
    return bool(SECRET_KEY.search(name))


def fingerprint(name: str, value: str, salt: bytes = b"") -> str:
    """A stable stand-in for a secret value: changes when the value changes, never reveals it.

    An HMAC keyed by ``salt`` (empty today, so fingerprints are stable across hosts; see
    docs/manifest.md on guessable secrets).
    """
    digest = hmac.new(b"mooring-secret\0" + salt, f"{name}\0{value}".encode(), hashlib.sha256).hexdigest()
    return SECRET_PREFIX + digest[:32]


def is_fingerprint(value: str) -> bool:
    return value.startswith(SECRET_PREFIX)


def redact_env(env: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``env`` safe to print: secret-looking values replaced by ``***``."""
    return {k: (REDACTED if is_secret_key(k) and v else v) for k, v in env.items()}
