"""A bench for the executor's unit tests: the real planner and batcher, the in-memory fakes of the ports.

``Bench.apply(snapshot)`` records a release and its targets the way the engine does (unchanged
targets skipped, batch numbers from ``make_batches``); ``Bench.run(release_id)`` drives a fresh
``ReleaseExecutor`` over it. What runs is what the fake runtime holds, so a second apply plans
against the first one's instances.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

from mooring.manifest.diff import spec_hash
from mooring.release.batches import make_batches
from mooring.release.executor import ReleaseExecutor
from mooring.release.fakes import FakeJournal, FakeRelease, FakeRuntime, FakeTarget
from mooring.release.model import Control, ReleaseStatus, TargetState
from mooring.release.plan import Action, RunningInstance, make_plan
from mooring.release.transitions import move_release, move_target


def service(
    version: str = "v1",
    replicas: int = 1,
    depends_on: tuple[str, ...] = (),
    **rollout: Any,
) -> dict[str, Any]:
    """A service section of a snapshot; ``version`` changes its spec (a replace)."""
    section: dict[str, Any] = {"command": ["serve", version], "replicas": replicas}
    if depends_on:
        section["depends_on"] = list(depends_on)
    if rollout:
        section["rollout"] = rollout
    return section


def snapshot(workers: Mapping[str, Any] | None = None, **services: dict[str, Any]) -> dict[str, Any]:
    snap: dict[str, Any] = {"app": {"name": "shop"}, "service": dict(services)}
    if workers:
        snap["worker"] = dict(workers)
    return snap


class Bench:
    def __init__(self, runtime: FakeRuntime | None = None) -> None:
        self.journal = FakeJournal()
        self.runtime = runtime or FakeRuntime()
        self.executors: list[ReleaseExecutor] = []
        self._releases = 0
        self._targets = 0

    # --- what the engine does around the executor -----------------------------------------

    def running(self) -> list[RunningInstance]:
        out = []
        for iid, (svc, release_id) in self.runtime.instances.items():
            snap = json.loads(self.journal.get_release(release_id).snapshot)
            replica = int(iid.rsplit("-", 2)[1])
            out.append(RunningInstance(iid, svc, replica, spec_hash(snap["service"][svc]), release_id))
        return out

    def apply(
        self, snap: Mapping[str, Any], trigger: str = "apply", source_release_id: str | None = None
    ) -> str:
        """Record a release of ``snap`` planned against what runs now; the previous open one is superseded."""
        self._releases += 1
        release_id = f"r{self._releases}"
        plan = make_plan(snap, self.running())
        batch_of = {(t.service, t.replica): b.number for b in make_batches(plan, snap) for t in b.targets}
        targets = []
        for t in plan.targets:
            self._targets += 1
            unchanged = t.action is Action.UNCHANGED
            targets.append(
                FakeTarget(
                    id=self._targets,
                    release_id=release_id,
                    service=t.service,
                    replica=t.replica,
                    action=t.action.value,
                    batch=batch_of.get((t.service, t.replica), 0),
                    state="skipped" if unchanged else "pending",
                    reason="unchanged" if unchanged else None,
                    previous_instance_id=t.previous_instance_id,
                    from_release_id=t.from_release_id,
                )
            )
        self.supersede_open(release_id)
        self.journal.add_release(
            FakeRelease(
                release_id,
                "shop",
                json.dumps(snap, sort_keys=True),
                trigger=trigger,
                source_release_id=source_release_id,
            ),
            targets,
        )
        return release_id

    def supersede_open(self, newer: str) -> None:
        """As the engine does on apply: a paused or unfinished release is superseded by the new one."""
        for old in list(self.journal.releases.values()):
            open_in_flight = old.status in ("pending", "in_progress")
            failed_paused = old.status in ("failed", "partially_failed") and old.control != "active"
            if open_in_flight or failed_paused:
                move_release(
                    self.journal,
                    old,
                    ReleaseStatus.SUPERSEDED,
                    "release.superseded",
                    {"by": newer, "previous": old.status},
                    superseded_by=newer,
                    message=f"superseded by {newer}",
                )

    def executor(self, release_id: str) -> ReleaseExecutor:
        executor = ReleaseExecutor(release_id, self.journal, self.runtime)
        self.executors.append(executor)
        return executor

    async def run(self, release_id: str) -> ReleaseStatus:
        return await asyncio.wait_for(self.executor(release_id).run(), 5)

    def control(self, release_id: str, control: Control) -> None:
        """What ``mooring rollout pause|cancel`` writes (the engine then wakes the executor)."""
        self.journal.update_release(release_id, control=control.value)
        for executor in self.executors:
            if executor.release_id == release_id:
                executor.notify_control()

    def resume(self, release_id: str) -> None:
        """What ``mooring rollout resume`` writes: failed targets are retried, control is active."""
        release = self.journal.get_release(release_id)
        for target in self.journal.list_targets(release_id):
            if target.state == "failed":
                move_target(
                    self.journal,
                    "shop",
                    release_id,
                    target,
                    TargetState.PENDING,
                    None,
                    reason=None,
                    detail="",
                )
        self.journal.update_release(release_id, control="active", resumed_count=release.resumed_count + 1)

    # --- reading back -------------------------------------------------------------------------

    def release(self, release_id: str) -> FakeRelease:
        return self.journal.get_release(release_id)

    def states(self, release_id: str) -> dict[str, str]:
        return {f"{t.service}-{t.replica}": t.state for t in self.journal.list_targets(release_id)}

    def reasons(self, release_id: str) -> dict[str, str | None]:
        return {f"{t.service}-{t.replica}": t.reason for t in self.journal.list_targets(release_id)}

    def events(self, release_id: str) -> list[str]:
        return self.journal.event_types(release_id)

    def versions(self) -> dict[str, str]:
        """Which release each running instance's slot runs (``web-1 -> r2``)."""
        return {
            f"{svc}-{iid.rsplit('-', 2)[1]}": rid
            for iid, (svc, rid) in sorted(self.runtime.instances.items())
        }
