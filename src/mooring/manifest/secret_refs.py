"""``secrets`` of a workload: which named secrets of the app's store it gets, as env and/or as a file.

```toml
secrets = ["DB_PASSWORD"]                                    # env DB_PASSWORD
secrets = { DB_PASSWORD = { env = "DB_PASSWORD", file = "db_password" }, TLS_KEY = { file = "tls.key" } }
```
docs/secrets.md documents it; the values live in the engine's encrypted store (``mooring secret set``).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, model_validator

from mooring.manifest.fields import Frozen

SECRET_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,199}$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
FILE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$")


class SecretRef(Frozen):
    """Where an instance finds one secret: ``env`` (a variable) and/or ``file`` (a name in its secrets dir)."""

    env: str | None = None
    file: str | None = None

    @model_validator(mode="after")
    def _somewhere(self) -> SecretRef:
        if self.env is None and self.file is None:
            raise ValueError('give env = "NAME", file = "name", or both')
        if self.env is not None and not ENV_NAME.match(self.env):
            raise ValueError(f"env {self.env!r} is not a variable name (letters, digits, '_')")
        if self.file is not None and not FILE_NAME.match(self.file):
            raise ValueError(f"file {self.file!r} must be a plain file name (no '/'), e.g. \"db_password\"")
        return self


def _refs(value: Any) -> Any:
    if isinstance(value, list):
        out: dict[str, Any] = {}
        for i, name in enumerate(value):
            if not isinstance(name, str):
                raise ValueError(f"entry {i} ({name!r}) is not a secret name")
            if name in out:
                raise ValueError(f"secret {name!r} is listed twice")
            out[name] = {"env": name}
        value = out
    if not isinstance(value, dict):
        raise ValueError('expected a list of names (["DB_PASSWORD"]) or a table of { env, file }')
    for name in value:
        if not isinstance(name, str) or not SECRET_NAME.match(name):
            raise ValueError(f"{name!r} is not a secret name (letters, digits, '_', '.', '-')")
    return value


SecretRefs = Annotated[dict[str, SecretRef], BeforeValidator(_refs)]


def check_refs(refs: dict[str, SecretRef], env: dict[str, str]) -> None:
    """No variable set twice (by ``env`` and a secret, or by two secrets), no file named twice."""
    seen_env: dict[str, str] = {}
    seen_file: dict[str, str] = {}
    for name, ref in refs.items():
        if ref.env is not None:
            if ref.env in env:
                raise ValueError(f"secret {name} sets env {ref.env}, which env also sets; keep one")
            if ref.env in seen_env:
                raise ValueError(f"secrets {seen_env[ref.env]} and {name} both set env {ref.env}")
            seen_env[ref.env] = name
        if ref.file is not None:
            if ref.file in seen_file:
                raise ValueError(f"secrets {seen_file[ref.file]} and {name} both use file {ref.file}")
            seen_file[ref.file] = name
