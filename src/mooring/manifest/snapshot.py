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
from functools import cached_property
from typing import Any

from mooring.manifest.models import Manifest, Rollout, Workload
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


class SnapshotError(ValueError):
    """Text that cannot be decoded as a snapshot."""


@dataclass(frozen=True)
class ReleaseSnapshot:
    """A snapshot as the engine, the executor and the spec builders take it: decoded once, here.

    ``data`` is the JSON as recorded (what spec hashes and diffs are computed over); the typed parts
    (each service's :class:`Rollout`, durations in seconds) are decoded from it on first use, by the
    manifest's own models, so their defaults exist in one place. ``text`` and ``hash`` are the
    canonical JSON and its sha256: for a stored snapshot they are the recorded text and hash.
    """

    data: dict[str, Any]  # shared by every reader of this release: never mutated
    _rollouts: dict[str, Rollout] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def decode(cls, text: str) -> ReleaseSnapshot:
        """The one place a snapshot's JSON is parsed; ``SnapshotError`` says why it is not JSON."""
        try:
            return cls(json.loads(text))
        except json.JSONDecodeError as exc:
            raise SnapshotError(f"the snapshot is not JSON: {exc}") from None

    @cached_property
    def text(self) -> str:
        return canonical_json(self.data)

    @cached_property
    def hash(self) -> str:
        return content_hash(self.text)

    def of_kind(self, kind: str) -> Mapping[str, Mapping[str, Any]]:
        """Every workload (or volume) of one kind by name: ``service``, ``worker``, ``cron``, ``volume``."""
        found: Mapping[str, Mapping[str, Any]] = self.data.get(kind, {})
        return found

    @property
    def services(self) -> Mapping[str, Mapping[str, Any]]:
        return self.of_kind("service")

    def rollout(self, service: str) -> Rollout:
        """The service's rollout policy (defaults for a service the snapshot does not name)."""
        if service not in self._rollouts:
            section = self.services.get(service, {})
            self._rollouts[service] = Rollout.model_validate(section.get("rollout") or {})
        return self._rollouts[service]


def build_snapshot(manifest: Manifest, salt: bytes = b"") -> Snapshot:
    """Snapshot a validated, resolved manifest (from the loader)."""
    secrets: dict[str, str] = {}
    data: dict[str, Any] = {
        "format": SNAPSHOT_FORMAT,
        "app": _dump(manifest.app),
        "volume": {name: v.model_dump(mode="json") for name, v in manifest.volume.items()},
    }
    for kind in ("service", "worker", "cron"):
        workloads: dict[str, Workload] = getattr(manifest, kind)
        data[kind] = {name: _workload(w, salt, secrets) for name, w in workloads.items()}
    text = canonical_json(data)
    return Snapshot(data=json.loads(text), text=text, hash=content_hash(text), secrets=secrets)


# Keys added after snapshot format 1 are left out while they keep their default, so a manifest that
# does not use them snapshots (and hashes) exactly as before: an engine upgrade replaces no instance.
OMITTED_AT_DEFAULT = frozenset(
    {"cluster", "placement", "user", "group", "groups", "template", "stateful", "data_dir", "logs", "route"}
)


def _dump(model: Any) -> dict[str, Any]:
    out: dict[str, Any] = model.model_dump(mode="json")
    for key in OMITTED_AT_DEFAULT & out.keys():
        field = type(model).model_fields[key]
        default = field.get_default(call_default_factory=True)
        dumped = default.model_dump(mode="json") if hasattr(default, "model_dump") else default
        if isinstance(dumped, tuple):  # a tuple field dumps as a JSON list
            dumped = list(dumped)
        if out[key] == dumped:
            del out[key]
    return out


def _workload(workload: Workload, salt: bytes, secrets: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = _dump(workload)
    out["driver"] = workload.driver
    globs = out.pop("source", None)  # the snapshot's "source" is the digest (manifest/source.py)
    if globs is not None:
        out["source_globs"] = globs
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
    for key in ("analysis", "canary_weight"):  # absent, not null: a manifest without them hashes as before
        if isinstance(out.get("rollout"), dict) and out["rollout"].get(key) is None:
            out["rollout"].pop(key, None)
    if "depends_on" in out:
        out["depends_on"] = sorted(out["depends_on"])
    for route in out.get("route", []):  # a route's port defaults to the first declared one
        if route.get("health_path") is None:
            route.pop("health_path", None)  # absent, not null: routes without it snapshot as before
        if route["port"] is None and out.get("ports"):
            route["port"] = out["ports"][0]["port"]
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
