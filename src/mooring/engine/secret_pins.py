"""Pin the version of every secret a snapshot references, so a release records versions, never values.

An apply pins the newest version of each secret: a new version changes the workload's spec hash, so
its instances are replaced (``secret DB_PASSWORD: v2 -> v3 (restart)`` in the plan). A rollback keeps
the versions its source release pinned, which restores the old value.
"""

from __future__ import annotations

from typing import Any

from mooring.errors import UsageError
from mooring.store import Store

WORKLOAD_KINDS = ("service", "worker", "cron")


def references(snapshot: dict[str, Any]) -> dict[str, list[str]]:
    """Secret name -> the workloads (``service.api``) that reference it."""
    out: dict[str, list[str]] = {}
    for kind in WORKLOAD_KINDS:
        for name, section in (snapshot.get(kind) or {}).items():
            for secret in section.get("secrets") or {}:
                out.setdefault(secret, []).append(f"{kind}.{name}")
    return out


def pin_secret_versions(store: Store, app: str, snapshot: dict[str, Any], keep_pinned: bool) -> None:
    """Write ``version`` into each reference of ``snapshot`` (in place); a missing secret is an error
    naming the secret and the workloads that need it."""
    refs = references(snapshot)
    if not refs:
        return
    versions = store.secret_versions(app)
    newest: dict[str, int] = {}
    known: set[tuple[str, int]] = set()
    for v in versions:
        newest[v.name] = max(newest.get(v.name, 0), v.version)
        known.add((v.name, v.version))
    problems = []
    for kind in WORKLOAD_KINDS:
        for name, section in (snapshot.get(kind) or {}).items():
            for secret, ref in (section.get("secrets") or {}).items():
                pinned = ref.get("version")
                if keep_pinned and pinned is not None:
                    if (secret, int(pinned)) not in known:
                        problems.append(f"{kind} {name}: secret {secret} version {pinned} no longer exists")
                    continue
                if secret not in newest:
                    problems.append(f"{kind} {name}: secret {secret} is not set for app {app}")
                    continue
                ref["version"] = newest[secret]
    if problems:
        first = problems[0].split("secret ", 1)[1].split(" ", 1)[0]
        raise UsageError(
            "; ".join(problems),
            hint=f"set it first, the value on stdin: mooring secret set {first} --app {app} < value-file "
            "(docs/secrets.md)",
        )
