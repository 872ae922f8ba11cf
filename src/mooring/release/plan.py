"""What an apply will do: every instance slot classified against what runs now (DESIGN §4).

Pure: it takes the snapshot and the engine's running instances and returns data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from mooring.manifest.diff import spec_hash
from mooring.manifest.graph import start_order, with_dependencies
from mooring.vocabulary import Action as Action  # the plan names it; it lives with the vocabulary

Scope = Literal["fresh", "replacement"]


@dataclass(frozen=True)
class RunningInstance:
    """An instance the engine runs now, as far as planning cares."""

    instance_id: str
    service: str
    replica: int
    spec_hash: str
    release_id: str | None = None


@dataclass(frozen=True)
class PlannedTarget:
    """One replica slot and what the release does to it."""

    service: str
    replica: int
    action: Action
    to_spec_hash: str | None
    from_spec_hash: str | None = None
    previous_instance_id: str | None = None
    from_release_id: str | None = None

    @property
    def name(self) -> str:
        return f"{self.service}-{self.replica}"


@dataclass(frozen=True)
class Plan:
    """The whole plan of one apply."""

    scope: Scope
    service_order: tuple[str, ...]
    targets: tuple[PlannedTarget, ...]
    selected: tuple[str, ...] | None = None

    def count(self, action: Action) -> int:
        return sum(1 for t in self.targets if t.action is action)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "service_order": list(self.service_order),
            "selected": None if self.selected is None else list(self.selected),
            "counts": {a.value: self.count(a) for a in Action},
            "targets": [
                {
                    "target": t.name,
                    "service": t.service,
                    "replica": t.replica,
                    "action": t.action.value,
                    "from_spec_hash": t.from_spec_hash,
                    "to_spec_hash": t.to_spec_hash,
                    "previous_instance_id": t.previous_instance_id,
                    "from_release_id": t.from_release_id,
                }
                for t in self.targets
            ],
        }


class PlanError(ValueError):
    """The request cannot be planned (e.g. an unknown service was selected)."""


def make_plan(
    snapshot: Mapping[str, Any],
    running: Sequence[RunningInstance],
    selected: Sequence[str] | None = None,
    force: bool = False,
) -> Plan:
    """Classify every slot: create, replace, unchanged (never restarted) or remove.

    ``force`` replaces the running instances of the chosen services even when their spec is unchanged
    (`up --force`, `mooring restart`)."""
    services: Mapping[str, Any] = snapshot.get("service", {})
    edges = {
        name: tuple(d for d in svc.get("depends_on", ()) if d in services) for name, svc in services.items()
    }
    order = start_order(edges)
    chosen: set[str] = set(services)
    if selected is not None:
        unknown = sorted(set(selected) - set(services))
        if unknown:
            raise PlanError(f"no service named {', '.join(map(repr, unknown))} in the manifest")
        chosen = with_dependencies(selected, edges)
    by_slot = {(r.service, r.replica): r for r in running}
    targets: list[PlannedTarget] = []
    for name in order:
        if name not in chosen:
            continue
        wanted = spec_hash(services[name])
        for replica in range(1, int(services[name]["replicas"]) + 1):
            current = by_slot.get((name, replica))
            if current is None:
                targets.append(PlannedTarget(name, replica, Action.CREATE, wanted))
            else:
                same = current.spec_hash == wanted and not force
                action = Action.UNCHANGED if same else Action.REPLACE
                targets.append(
                    PlannedTarget(
                        name,
                        replica,
                        action,
                        wanted,
                        current.spec_hash,
                        current.instance_id,
                        current.release_id,
                    )
                )
    for inst in sorted(running, key=lambda r: (r.service, r.replica)):
        gone = inst.service not in services or inst.replica > int(services[inst.service]["replicas"])
        in_scope = selected is None or inst.service in chosen
        if gone and in_scope:
            targets.append(
                PlannedTarget(
                    inst.service,
                    inst.replica,
                    Action.REMOVE,
                    None,
                    inst.spec_hash,
                    inst.instance_id,
                    inst.release_id,
                )
            )
    return Plan(
        scope="replacement" if running else "fresh",
        service_order=tuple(n for n in order if n in chosen),
        targets=tuple(targets),
        selected=None if selected is None else tuple(sorted(chosen)),
    )
