"""What the engine process does not load at rest: libraries only some configurations need."""

from __future__ import annotations

import json
import subprocess
import sys

# alembic: only to migrate (store/schema_version.py); acme, josepy, pyOpenSSL, requests: only to issue
# an ACME certificate; cryptography: only with secrets or certificates; httpx (and rich, which it
# imports): only for http checks, webhooks or a follower forwarding; websocket protocols: no route.
NOT_AT_REST = (
    "alembic",
    "acme",
    "josepy",
    "OpenSSL",
    "requests",
    "cryptography",
    "httpx",
    "rich",
    "wsproto",
    "websockets",
)


def test_the_engine_daemon_imports_none_of_what_only_some_configurations_need() -> None:
    probe = (
        "import json, sys; import mooring.daemon.serve, mooring.engine; "
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({list(NOT_AT_REST)!r}))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(loaded.stdout) == [], loaded.stdout
