"""Field-level differences between two snapshots, and which of them force instances to restart."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from mooring.manifest.redact import REDACTED, is_fingerprint
from mooring.manifest.snapshot import KIND_KEYS, canonical_json, content_hash

# Fields a running instance does not see: changing them re-plans, re-probes or re-routes, never restarts.
NO_RESTART_FIELDS = frozenset(
    {
        "rollout",
        "route",  # the edge's HTTP routes: served by HAProxy, nothing the instance sees
        "logs",  # retention of ended instances' logs: nothing a running instance sees
        "replicas",
        "depends_on",
        "health_check",
        "restart",
        "max_restarts",
        "stop_signal",
        "stop_timeout",
        "env_file",
    }
)

ChangeKind = Literal["changed", "added", "removed"]


@dataclass(frozen=True)
class FieldChange:
    """One difference: ``service.web.image: a -> b``."""

    path: str
    old: Any
    new: Any
    kind: ChangeKind
    restart: bool

    def render(self) -> str:
        mark = " (restart)" if self.restart else ""
        rotated = SECRET_VERSION.match(self.path)
        if rotated and self.kind == "changed":
            return f"~ {rotated.group(1)}: secret {rotated.group(2)}: {_version(self.old)} -> {_version(self.new)}{mark}"
        if self.kind == "added":
            return f"+ {self.path}{mark}"
        if self.kind == "removed":
            return f"- {self.path}{mark}"
        return f"~ {self.path}: {_shown(self.old)} -> {_shown(self.new)}{mark}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "old": _safe(self.old),
            "new": _safe(self.new),
            "kind": self.kind,
            "restart": self.restart,
        }


# ``service.api.secrets.DB_PASSWORD.version``: a rotation, shown as versions, never values
SECRET_VERSION = re.compile(r"^((?:service|worker|cron)\.[^.]+)\.secrets\.([^.]+)\.version$")


def _version(value: Any) -> str:
    return "(unset)" if value is None else f"v{value}"


def _safe(value: Any) -> Any:
    if isinstance(value, str) and is_fingerprint(value):
        return REDACTED
    return value


def _shown(value: Any) -> str:
    value = _safe(value)
    if value is None:
        return "(unset)"
    if isinstance(value, str):
        return value
    return canonical_json(value)


def runtime_spec(workload: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a workload snapshot an instance runs with; equal specs mean no restart."""
    spec = {k: v for k, v in workload.items() if k not in NO_RESTART_FIELDS}
    if "ports" in spec:
        spec["ports"] = [p["port"] for p in spec["ports"]]
    return spec


def spec_hash(workload: Mapping[str, Any]) -> str:
    """Hash of :func:`runtime_spec`: the version an instance runs."""
    return content_hash(canonical_json(runtime_spec(workload)))


def diff_snapshots(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[FieldChange]:
    """Every difference from ``old`` to ``new`` (``old=None``: everything is added)."""
    before = old or {}
    changes: list[FieldChange] = []
    for path, a, b in _leaves(before.get("app", {}), new.get("app", {}), "app"):
        changes.append(FieldChange(path, a, b, "changed", False))
    for kind in KIND_KEYS:
        old_items: Mapping[str, Any] = before.get(kind, {})
        new_items: Mapping[str, Any] = new.get(kind, {})
        for name in sorted(set(old_items) | set(new_items)):
            where = f"{kind}.{name}"
            if name not in old_items:
                changes.append(FieldChange(where, None, new_items[name], "added", kind != "volume"))
            elif name not in new_items:
                changes.append(FieldChange(where, old_items[name], None, "removed", kind != "volume"))
            else:
                changes.extend(_workload_changes(kind, where, old_items[name], new_items[name]))
    return changes


def _workload_changes(
    kind: str, where: str, old: Mapping[str, Any], new: Mapping[str, Any]
) -> Iterator[FieldChange]:
    restarts = kind in ("service", "worker", "cron")
    for path, a, b in _leaves(old, new, where):
        top = path[len(where) + 1 :].split(".", 1)[0].split("[", 1)[0]
        forces = restarts and top not in NO_RESTART_FIELDS
        if top == "ports":
            forces = [p["port"] for p in a or []] != [p["port"] for p in b or []]
        yield FieldChange(path, a, b, "changed", forces)


def _leaves(old: Any, new: Any, path: str) -> Iterator[tuple[str, Any, Any]]:
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted(set(old) | set(new)):
            yield from _leaves(old.get(key), new.get(key), f"{path}.{key}")
    elif old != new:
        yield path, old, new
