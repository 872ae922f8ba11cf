"""What an apply would do, as data, without doing it: the dry-run plan (``mooring up --dry-run``).

Pure: it takes the new snapshot, the current release's snapshot and what runs now, and returns a
JSON-ready dict: the per-field diff, drift between the current release and the running instances,
the action per target, the batches in order with their gates, and a worst-case duration bound.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mooring.manifest.diff import diff_snapshots, spec_hash
from mooring.manifest.durations import parse_duration
from mooring.manifest.models import Workload
from mooring.release.batches import Batch, make_batches
from mooring.release.plan import Action, Plan, RunningInstance, make_plan

BOUND_ASSUMES = (
    "every target uses its whole readiness deadline (health_check_timeout) and min_ready window, "
    "every replaced instance its whole drain_timeout and stop_timeout, batches run one after another "
    "with delay_between_batches between them; removals are stopped one after another after the last "
    "batch; not included: workers run before a service's first batch, image pulls, time spent "
    "paused, and a rollback after a failure (which can take as long again)"
)


@dataclass(frozen=True)
class ObservedInstance:
    """An instance the engine knows of, live or not, as drift detection sees it."""

    instance_id: str
    service: str
    replica: int
    spec_hash: str
    state: str
    live: bool


def detect_drift(
    current: Mapping[str, Any] | None, observed: Sequence[ObservedInstance]
) -> list[dict[str, Any]]:
    """Where what runs differs from the current release: a changed spec, a missing, extra or stopped instance."""
    if current is None:
        return []
    services: Mapping[str, Any] = current.get("service", {})
    by_slot: dict[tuple[str, int], list[ObservedInstance]] = {}
    for inst in observed:
        by_slot.setdefault((inst.service, inst.replica), []).append(inst)
    drift: list[dict[str, Any]] = []
    for name in sorted(services):
        wanted = spec_hash(services[name])
        for replica in range(1, int(services[name].get("replicas", 1)) + 1):
            slot = f"{name}-{replica}"
            found = by_slot.get((name, replica), [])
            live = [i for i in found if i.live]
            if not found:
                drift.append(
                    _drift(slot, None, "missing", "no instance runs this slot of the current release")
                )
            elif not live:
                inst = found[0]
                drift.append(_drift(slot, inst.instance_id, "not_running", f"the instance is {inst.state}"))
            for inst in live:
                if inst.spec_hash != wanted:
                    drift.append(
                        _drift(
                            slot,
                            inst.instance_id,
                            "spec_differs",
                            "runs a spec other than the current release's",
                        )
                    )
    for inst in sorted(observed, key=lambda i: (i.service, i.replica, i.instance_id)):
        known = inst.service in services and inst.replica <= int(services[inst.service].get("replicas", 1))
        if not known:
            drift.append(
                _drift(
                    f"{inst.service}-{inst.replica}", inst.instance_id, "extra", "not in the current release"
                )
            )
    return drift


def _drift(target: str, instance_id: str | None, kind: str, detail: str) -> dict[str, Any]:
    return {"target": target, "instance_id": instance_id, "kind": kind, "detail": detail}


def stop_timeout_of(workload: Mapping[str, Any]) -> float:
    """A snapshot workload's stop timeout in seconds; unset, the manifest model's own default."""
    if "stop_timeout" in workload:
        return parse_duration(workload["stop_timeout"])
    return float(Workload.model_fields["stop_timeout"].default)


def batch_bound(batch: Batch, service: Mapping[str, Any]) -> float:
    """Worst case for one batch, in seconds (see BOUND_ASSUMES)."""
    p = batch.policy
    stop = stop_timeout_of(service)
    replaces = any(t.action is Action.REPLACE for t in batch.targets)
    delay = 0.0 if batch.first_of_service else p.delay_between_batches
    return delay + p.health_check_timeout + p.min_ready + ((p.drain_timeout + stop) if replaces else 0.0)


def preview(
    app: str,
    snapshot: Mapping[str, Any],
    manifest_hash: str,
    running: Sequence[RunningInstance],
    selected: Sequence[str] | None = None,
    current: Mapping[str, Any] | None = None,
    current_release_id: str | None = None,
    observed: Sequence[ObservedInstance] = (),
    against: str = "engine",
) -> dict[str, Any]:
    """The dry-run plan; raises PlanError for an unknown selected service."""
    plan: Plan = make_plan(snapshot, running, selected)
    batches = make_batches(plan, snapshot)
    services: Mapping[str, Any] = snapshot.get("service", {})
    batch_of = {(t.service, t.replica): b.number for b in batches for t in b.targets}
    batch_rows = []
    total = 0.0
    for b in batches:
        bound = batch_bound(b, services.get(b.service, {}))
        total += bound
        batch_rows.append(
            {
                "number": b.number,
                "service": b.service,
                "targets": [t.name for t in b.targets],
                "strategy": b.policy.strategy,
                "order": b.policy.order,
                "delay_before": 0.0 if b.first_of_service else b.policy.delay_between_batches,
                "gate": {
                    "readiness_timeout": b.policy.health_check_timeout,
                    "min_ready": b.policy.min_ready,
                    "health_check": (services.get(b.service, {}).get("health_check") or {}).get("type"),
                    "failure_action": b.policy.failure_action,
                    "max_failure_ratio": b.policy.max_failure_ratio,
                },
                "bound_seconds": bound,
            }
        )
    old_services: Mapping[str, Any] = (current or {}).get("service", {})
    for t in plan.targets:
        if t.action is Action.REMOVE:
            total += stop_timeout_of(old_services.get(t.service, {}))
    changes = [c.to_dict() for c in diff_snapshots(current, snapshot)]
    return {
        "app": app,
        "manifest_hash": manifest_hash,
        "against": against,
        "current_release_id": current_release_id,
        "scope": plan.scope,
        "selected": None if plan.selected is None else list(plan.selected),
        "counts": {a.value: plan.count(a) for a in Action},
        "changes": changes,
        "drift": detect_drift(current, observed),
        "targets": [
            {
                "target": t.name,
                "service": t.service,
                "replica": t.replica,
                "action": t.action.value,
                "batch": batch_of.get((t.service, t.replica)),
                "previous_instance_id": t.previous_instance_id,
                "from_spec_hash": t.from_spec_hash,
                "to_spec_hash": t.to_spec_hash,
            }
            for t in plan.targets
        ],
        "batches": batch_rows,
        "duration_bound": {"seconds": total, "assumes": BOUND_ASSUMES},
    }
