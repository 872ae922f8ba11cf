"""Text rendering of a plan: deterministic, one line per service, then the totals."""

from __future__ import annotations

from itertools import groupby

from mooring.cli.output import out
from mooring.manifest.snapshot import Snapshot
from mooring.release.plan import Action, Plan


def render_plan(app: str, snapshot: Snapshot, plan: Plan) -> None:
    out.print(f"app {app}  manifest {snapshot.hash[:19]}  scope {plan.scope}")
    for service, targets in groupby(plan.targets, key=lambda t: t.service):
        items = list(targets)
        svc = snapshot.data["service"].get(service, {})
        driver = svc.get("driver", "-")
        rollout = svc.get("rollout", {})
        actions = ", ".join(f"{t.name} {t.action.value}" for t in items)
        policy = f"{rollout.get('strategy', '-')} x{rollout.get('parallelism', '-')}" if rollout else "-"
        out.print(f"  {service:<16} {driver:<9} {policy:<14} {actions}")
    counts = ", ".join(f"{plan.count(a)} {a.value}" for a in Action)
    out.print(f"plan: {counts}")
