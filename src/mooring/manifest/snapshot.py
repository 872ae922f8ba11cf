"""The canonical snapshot of a manifest: deterministic JSON, its ``sha256:`` hash, secrets set aside.

The snapshot is what a release records and what later diffs and rollbacks compare. It holds every
effective value (defaults filled in, env files merged, paths absolute) so it is self-contained, and
secret-looking env values are replaced by fingerprints; the values themselves are returned apart
(``Snapshot.secrets``) for the engine to keep out of the snapshot.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mooring.manifest.models import Manifest, Workload
from mooring.manifest.redact import fingerprint, is_secret_key

SNAPSHOT_FORMAT = 1
KIND_KEYS = ("service", "worker", "cron", "volume")


def canonical_json(data: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 kept: the same data always gives the same bytes."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def content_hash(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Snapshot:
    """A manifest frozen for a release."""

    data: Mapping[str, Any]
    text: str
    hash: str
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_text(cls, text: str) -> Snapshot:
        """Re-read a stored snapshot (its secrets live elsewhere)."""
        data = json.loads(text)
        return cls(data=data, text=canonical_json(data), hash=content_hash(canonical_json(data)))


def build_snapshot(manifest: Manifest, salt: bytes = b"") -> Snapshot:
    """Snapshot a validated, resolved manifest (from the loader)."""
    secrets: dict[str, str] = {}
    data: dict[str, Any] = {
        "format": SNAPSHOT_FORMAT,
        "app": manifest.app.model_dump(mode="json"),
        "volume": {name: v.model_dump(mode="json") for name, v in manifest.volume.items()},
    }
    for kind in ("service", "worker", "cron"):
        workloads: dict[str, Workload] = getattr(manifest, kind)
        data[kind] = {name: _workload(w, salt, secrets) for name, w in workloads.items()}
    text = canonical_json(data)
    return Snapshot(data=json.loads(text), text=text, hash=content_hash(text), secrets=secrets)


def _workload(workload: Workload, salt: bytes, secrets: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = workload.model_dump(mode="json")
    out["driver"] = workload.driver
    env: dict[str, str] = {}
    for key, value in workload.env.items():
        if is_secret_key(key) and value:
            ref = fingerprint(key, value, salt)
            secrets[ref] = value
            env[key] = ref
        else:
            env[key] = value
    out["env"] = env
    if not out.get("secrets"):
        # absent, not {}: a manifest without secret references keeps the spec hash it had before them
        out.pop("secrets", None)
    if "depends_on" in out:
        out["depends_on"] = sorted(out["depends_on"])
    check = out.get("health_check")
    if check is not None:
        if check["port"] is None and check["type"] != "exec" and out.get("ports"):
            check["port"] = out["ports"][0]["port"]
        if check["type"] == "http" and check["path"] is None:
            check["path"] = "/"
    return out


def reveal_env(env: Mapping[str, str], secrets: Mapping[str, str]) -> dict[str, str]:
    """Env with fingerprints swapped back for their values, for the process that needs them."""
    return {k: secrets.get(v, v) for k, v in env.items()}
