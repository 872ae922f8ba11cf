"""Run one release: batches in order, each target gated on readiness, failures handled by policy.

Every target and release transition is journaled before the next side effect, so the executor can
be killed at any instant and run again on the same release: terminal targets are never replayed,
a target caught mid-start is cleaned up and retried. The journal writes of one loop turn are
committed together (release/group_journal.py); side effects go through ``self.fx``, which waits
for that commit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from mooring.manifest.snapshot import ReleaseSnapshot
from mooring.release.analysis import watch_batch
from mooring.release.batches import Policy
from mooring.release.decide import (
    CHANGING,
    AfterBatch,
    Step,
    TargetResult,
    after_batch,
    cut_over_count,
    cuts_over_together,
    finished_status,
    first_batch_of,
    next_batch,
    over_failure_budget,
    paused_status,
    restore_on_cancel,
    step_for,
    together_outcome,
    withdrawn_results,
)
from mooring.release.group_journal import CommittedRuntime, GroupJournal
from mooring.release.model import (
    Control,
    Reason,
    ReleaseStatus,
    TargetState,
    Trigger,
    default_message,
)
from mooring.release.ports import Journal, Readiness, Runtime, TargetRecord
from mooring.release.transitions import move_release, move_target

log = logging.getLogger("mooring.release")


class ReleaseExecutor:
    """Drives one release to an outcome; ``notify_control()`` wakes it when the operator acts."""

    def __init__(self, release_id: str, journal: Journal, runtime: Runtime) -> None:
        self.release_id = release_id
        self.journal = GroupJournal(journal, release_id)
        self.runtime = runtime
        self.fx = CommittedRuntime(runtime, self.journal)  # every side effect: after the commit
        self.control_changed = asyncio.Event()
        self._control_seen: Control | None = None  # read again only after notify_control()
        release = journal.get_release(release_id)
        self.app = release.app
        self.trigger = Trigger(release.trigger)
        self.source_release_id = release.source_release_id
        self.snapshot = ReleaseSnapshot.decode(release.snapshot)
        self._policies: dict[str, Policy] = {}

    # --- journal helpers -------------------------------------------------------------------

    def notify_control(self) -> None:
        self._control_seen = None
        self.control_changed.set()

    def _event(self, type: str, **payload: Any) -> None:
        self.journal.append_event(self.app, type, payload, release_id=self.release_id)

    def _status(self) -> ReleaseStatus:
        return ReleaseStatus(self.journal.get_release(self.release_id).status)

    def _control(self) -> Control:
        """The operator's control; only the operator changes it, and says so (``notify_control``):
        read from the store once, then again only after that, not at every batch."""
        if self._control_seen is None:
            self._control_seen = Control(self.journal.peek_release(self.release_id).control)
        return self._control_seen

    def _targets(self) -> list[TargetRecord]:
        return list(self.journal.list_targets(self.release_id))

    def _set_status(self, new: ReleaseStatus, event: str, message: str | None = None, **extra: Any) -> None:
        release = self.journal.get_release(self.release_id)
        changes: dict[str, Any] = {"message": message or self._message(new), **extra}
        payload = {"status": new.value, "previous": release.status, "message": changes["message"]}
        move_release(self.journal, release, new, event, payload, **changes)

    def _message(self, status: ReleaseStatus) -> str:
        return default_message(status, self.trigger, self.source_release_id)

    def _set_target(
        self, target: TargetRecord, state: TargetState, event: str, **changes: Any
    ) -> TargetRecord:
        payload = {
            "target": f"{target.service}-{target.replica}",
            "service": target.service,
            "replica": target.replica,
            "state": state.value,
            "reason": changes.get("reason"),
            "detail": changes.get("detail", ""),
            "instance_id": changes.get("instance_id", target.instance_id),
        }
        # the release's counters follow with the same commit (GroupJournal counts its targets)
        return move_target(self.journal, self.app, self.release_id, target, state, event, payload, **changes)

    # --- the run ---------------------------------------------------------------------------

    async def run(self) -> ReleaseStatus:
        """Work the release until it ends, pauses or is cancelled; returns the status it left it in."""
        try:
            status = await self._run()
        except BaseException:
            # what was journaled before the error happened (its effects may have followed, e.g. a
            # cancel landing between a cut-over and the commit of its target's state)
            self.journal.flush_quietly()
            raise
        await self.journal.committed()
        self.journal.flush()  # anything queued after that commit was scheduled
        return status

    async def _run(self) -> ReleaseStatus:
        status = self._status()
        if status.terminal or self._rollback_failed():
            return status
        control = self._control()
        if control is Control.PAUSED:
            return status
        await self._recover_in_flight()
        self.journal.recount()  # a crash between a target's journal entry and the counters leaves them stale
        if control is Control.CANCEL_REQUESTED:
            return await self._cancel()
        if status is not ReleaseStatus.IN_PROGRESS:
            if status is ReleaseStatus.PENDING:
                self._set_status(ReleaseStatus.IN_PROGRESS, "release.started", started_at=_now())
            else:
                self._set_status(ReleaseStatus.IN_PROGRESS, "release.resumed")
        return await self._run_batches()

    def _rollback_failed(self) -> bool:
        """A release whose rollback failed is final: it is never rolled back or resumed again."""
        failure = getattr(self.journal.get_release(self.release_id), "failure", None) or {}
        return bool(failure.get("reason") == Reason.ROLLBACK_FAILED.value)

    async def _recover_in_flight(self) -> None:
        """A target caught mid-start (engine crash) is cleaned up and queued again: it never half-counts."""
        for target in self._targets():
            if TargetState(target.state) is TargetState.STARTING:
                if target.instance_id:
                    await self.fx.stop(target.instance_id)
                self._set_target(
                    target,
                    TargetState.PENDING,
                    "target.requeued",
                    instance_id=None,
                    reason=Reason.ENGINE_RESTARTED,
                )

    async def _run_batches(self) -> ReleaseStatus:
        placed = [(t.service, t.batch) for t in self._targets()]
        workers_done: set[str] = set()
        while True:
            targets = self._targets()
            number = next_batch((t.batch, TargetState(t.state)) for t in targets)
            if number is None:
                break  # every batch worked: a pause or cancel arriving now is too late to stop it
            step = step_for(self._control())
            if step is Step.CANCEL:
                return await self._cancel()
            if step is Step.PAUSE:
                return self._paused_by_operator()
            self.control_changed.clear()
            batch = [t for t in targets if t.batch == number]
            todo = [t for t in batch if TargetState(t.state) is TargetState.PENDING]
            service = batch[0].service
            policy = self._policy(service)
            first = first_batch_of(service, placed) == number
            if (
                not first
                and policy.delay_between_batches > 0
                and await self._sleep(policy.delay_between_batches)
            ):
                continue  # interrupted by the operator: re-check control
            if not first and policy.canary_weight is not None:
                await self._even_out([service])  # the canary is promoted: equal shares from here on
            results = await self._run_batch(number, service, todo, policy, first, workers_done)
            decision = after_batch(results, self._over_failure_budget(service, policy), policy.failure_action)
            if first and decision is AfterBatch.NEXT and policy.canary_weight is not None:
                await self._weigh_canary(number, service, policy.canary_weight)
            if decision is AfterBatch.ROLLBACK:
                return await self._rollback(because=f"batch {number} of {service} failed")
            if decision is AfterBatch.PAUSE:
                return self._paused_after_failure(number, service)
            if decision is AfterBatch.NEXT and policy.analysis is not None and "ready" in results:
                verdict, figures = await watch_batch(
                    self.runtime, self._targets(), number, service, policy.analysis, self._event, self._sleep
                )
                if verdict == "failed":
                    return await self._analysis_failed(number, service, policy, figures)
            # NEXT: the batch has no pending target left; RETRY: its interrupted targets are pending again
        await self._even_out()
        await self._removals()
        return self._finish()

    async def _weigh_canary(self, number: int, service: str, percent: int) -> None:
        """rollout.canary_weight: while it is gated, the canary batch takes ``percent`` % of the traffic."""
        canary = [
            t.instance_id
            for t in self._targets()
            if t.batch == number and TargetState(t.state) is TargetState.READY and t.instance_id
        ]
        if canary:
            await self.fx.weigh(self.release_id, service, canary, percent)
            self._event("canary.weighted", batch=number, service=service, instances=canary, percent=percent)

    async def _even_out(self, services: Sequence[str] | None = None) -> None:
        """Every instance of these services (default: each with a canary_weight) an equal share again."""
        for service in services if services is not None else self.snapshot.services:
            if self._policy(service).canary_weight is not None:
                await self.fx.weigh(self.release_id, service, [], None)

    async def _run_batch(
        self,
        number: int,
        service: str,
        todo: list[TargetRecord],
        policy: Policy,
        first: bool,
        workers_done: set[str],
    ) -> list[TargetResult]:
        """Start and gate one batch's pending targets (after the service's workers, in its first batch)."""
        problem = await self._workers_for(service, workers_done) if first else None
        self._event(
            "batch.started",
            batch=number,
            service=service,
            targets=[_name(t) for t in todo],
            readiness_timeout=policy.health_check_timeout,  # followers show elapsed against it
        )
        results: list[TargetResult]
        if problem:
            for t in todo:
                self._set_target(
                    t, TargetState.FAILED, "target.failed", reason=Reason.START_FAILED, detail=problem
                )
            results = ["failed"] * len(todo)
        else:
            together = cuts_over_together(policy.strategy, policy.order)
            if len(todo) == 1:  # no task hop: its last transition joins the next batch's commit
                results = [await self._run_target(todo[0], policy, policy.order, defer_cutover=together)]
            else:
                results = list(
                    await asyncio.gather(
                        *(self._run_target(t, policy, policy.order, defer_cutover=together) for t in todo)
                    )
                )
            if together:
                results = await self._cut_over_together(results)
        self._event(
            "batch.completed",
            batch=number,
            service=service,
            ready=results.count("ready"),
            failed=results.count("failed"),
            interrupted=results.count("interrupted"),
        )
        return results

    def _over_failure_budget(self, service: str, policy: Policy) -> bool:
        mine = [
            TargetState(t.state) for t in self._targets() if t.service == service and t.action in CHANGING
        ]
        return over_failure_budget(mine, policy.max_failure_ratio)

    async def _workers_for(self, service: str, done: set[str]) -> str | None:
        workers = self.snapshot.of_kind("worker")
        for dep in self.snapshot.services[service].get("depends_on", []):
            if dep in workers and dep not in done:
                self._event("worker.started", worker=dep)
                problem = await self.fx.run_worker(dep, self.release_id)
                self._event("worker.finished", worker=dep, error=problem)
                if problem:
                    return problem
                done.add(dep)
        return None

    async def _sleep(self, seconds: float) -> bool:
        """Wait between batches; True when the operator interrupted the wait."""
        try:
            await asyncio.wait_for(self.control_changed.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def _cut_over_together(self, results: list[TargetResult]) -> list[TargetResult]:
        """blue_green: switch every slot at once when the whole new set passed its gate, else none."""
        gated = [t for t in self._targets() if TargetState(t.state) is TargetState.STARTING]
        if together_outcome(results) == "cut_over":
            old = [t.previous_instance_id for t in gated if t.previous_instance_id]
            # one change of the proxy: the new set takes every new connection from that instant on
            await self.fx.switch(
                [t.instance_id for t in gated if t.instance_id], [i for i in old if self.runtime.exists(i)]
            )
            # stopped together: the old set leaves the proxy at once, not one drain after another
            await asyncio.gather(*(self.fx.stop(i) for i in old if self.runtime.exists(i)))
            for target in gated:
                self._set_target(target, TargetState.READY, "target.ready")
            return ["ready"] * len(results)
        for target in gated:  # the set is incomplete: drop it whole, the old set keeps serving
            if target.instance_id:
                await self.fx.stop(target.instance_id)
            self._set_target(target, TargetState.PENDING, "target.withdrawn", instance_id=None)
        return withdrawn_results(results)

    async def _run_target(
        self, target: TargetRecord, policy: Policy, order: str, defer_cutover: bool = False
    ) -> TargetResult:
        previous = target.previous_instance_id
        instance_id = self.runtime.new_instance_id(target.service, target.replica)
        target = self._set_target(
            target, TargetState.STARTING, "target.starting", instance_id=instance_id, reason=None, detail=""
        )
        problem = await self.fx.prepare(target.service, self.release_id)
        if problem is not None:  # e.g. the image cannot be pulled: fail before the old instance is stopped
            self._set_target(
                target, TargetState.FAILED, "target.failed", reason=Reason.IMAGE_PULL_FAILED, detail=problem
            )
            return "failed"
        if order == "stop_first" and previous and self.runtime.exists(previous):
            cut = await self.fx.stop(previous)
            self._event(
                "instance.stopped",
                target=_name(target),
                instance_id=previous,
                why="stop_first",
                connections_cut=cut,
            )
        error = await self.fx.start(instance_id, target.service, target.replica, self.release_id)
        if error is not None:
            await self.fx.stop(instance_id)
            self._set_target(
                target, TargetState.FAILED, "target.failed", reason=Reason.START_FAILED, detail=error
            )
            return "failed"
        name = _name(target)

        def health_changed(state: str, detail: str) -> None:
            self._event("target.health", target=name, instance_id=instance_id, health=state, detail=detail)

        readiness = await self.fx.wait_ready(
            instance_id, policy.health_check_timeout, policy.min_ready, self.control_changed, health_changed
        )
        if readiness.interrupted:
            await self.fx.stop(instance_id)
            self._set_target(target, TargetState.PENDING, "target.interrupted", instance_id=None)
            return "interrupted"
        if not readiness.ready:
            await self.fx.stop(instance_id)
            self._set_target(
                target, TargetState.FAILED, "target.failed", reason=readiness.reason, detail=readiness.detail
            )
            return "failed"
        self._event("target.gated", target=_name(target), instance_id=instance_id)
        if defer_cutover:
            return "gated"
        await self.fx.serve(instance_id)  # cut over: the new instance is ready and takes traffic
        if previous and self.runtime.exists(previous):
            cut = await self.fx.stop(previous)  # leaves the proxy, drains, then stops
            self._event(
                "instance.stopped",
                target=_name(target),
                instance_id=previous,
                why="replaced",
                connections_cut=cut,
            )
        self._set_target(target, TargetState.READY, "target.ready")
        return "ready"

    async def _removals(self) -> None:
        """Instances the new set no longer has: stopped only now that it is ready."""
        for target in self._targets():
            if target.action == "remove" and TargetState(target.state) is TargetState.PENDING:
                if target.previous_instance_id:
                    await self.fx.stop(target.previous_instance_id)
                self._set_target(target, TargetState.REMOVED, "target.removed")

    # --- outcomes ----------------------------------------------------------------------------

    def _cut_over(self, targets: Sequence[TargetRecord]) -> int:
        return cut_over_count((t.action, TargetState(t.state)) for t in targets)

    def _policy(self, service: str) -> Policy:
        if service not in self._policies:
            self._policies[service] = Policy.from_rollout(self.snapshot.rollout(service))
        return self._policies[service]

    def _finish(self) -> ReleaseStatus:
        self.journal.recount()
        targets = self._targets()
        failed = [t for t in targets if TargetState(t.state) is TargetState.FAILED]
        status = finished_status(TargetState(t.state) for t in targets)
        message = self._message(status)
        if failed:
            message += f" ({len(failed)} failed within max_failure_ratio)"
        self._set_status(status, f"release.{status.value}", message, finished_at=_now())
        return status

    def _paused_after_failure(self, batch: int, service: str) -> ReleaseStatus:
        targets = self._targets()
        status = paused_status(self._cut_over(targets))
        failed = [t for t in targets if TargetState(t.state) is TargetState.FAILED]
        failure = {
            "batch": batch,
            "service": service,
            "targets": [{"target": _name(t), "reason": t.reason} for t in failed],
        }
        message = (
            f"{self._message(status)}: paused at batch {batch} ({service}); resume retries the failed targets"
        )
        self.journal.update_release(self.release_id, control=Control.PAUSED.value, failure=failure)
        self._set_status(status, "release.paused", message)
        return status

    async def _analysis_failed(
        self, batch: int, service: str, policy: Policy, figures: dict[str, Any]
    ) -> ReleaseStatus:
        """The batch's live traffic failed the gate: its failure_action, with the figures recorded."""
        why = (
            f"{Reason.ANALYSIS_FAILED.value} at batch {batch} of {service}: {'; '.join(figures['failures'])}"
        )
        failure = {
            "reason": Reason.ANALYSIS_FAILED.value,
            "batch": batch,
            "service": service,
            "figures": figures,
        }
        self.journal.update_release(self.release_id, failure=failure)
        if policy.failure_action == "rollback":
            return await self._rollback(because=why)
        status = paused_status(self._cut_over(self._targets()))
        self.journal.update_release(self.release_id, control=Control.PAUSED.value)
        self._set_status(
            status,
            "release.paused",
            f"{self._message(status)}: paused after {why}; resume goes on, rollback restores",
        )
        return status

    def _paused_by_operator(self) -> ReleaseStatus:
        self._event("release.paused", status=self._status().value, message="paused by the operator")
        return self._status()

    async def _cancel(self) -> ReleaseStatus:
        targets = self._targets()
        rollback = restore_on_cancel(
            self._policy(t.service).failure_action
            for t in targets
            if t.action in CHANGING and TargetState(t.state) is TargetState.READY
        )
        restored_ok = True
        await self._even_out()
        if rollback:
            restored_ok = await self._restore_cut_over()
        for target in self._targets():
            if TargetState(target.state) is TargetState.PENDING:
                self.journal.update_target(target.id, reason=Reason.CANCELLED_BY_OPERATOR.value)
        mixed = self._cut_over(self._targets())
        message = self._message(ReleaseStatus.CANCELLED)
        if mixed:
            message += f": {mixed} targets run the new version, the rest the old (mixed versions)"
        if not restored_ok:
            message += "; restoring the previous version failed for some targets"
        self._set_status(ReleaseStatus.CANCELLED, "release.cancelled", message, finished_at=_now())
        return ReleaseStatus.CANCELLED

    async def _rollback(self, because: str) -> ReleaseStatus:
        self._event("release.rolling_back", why=because)
        await self._even_out()  # the canary leaves; the old instances share its traffic alike
        ok = await self._restore_cut_over()
        if ok:
            self._set_status(
                ReleaseStatus.ROLLED_BACK,
                "release.rolled_back",
                f"{self._message(ReleaseStatus.ROLLED_BACK)}: {because}{self._rolled_back_summary()}",
                finished_at=_now(),
            )
            return ReleaseStatus.ROLLED_BACK
        self._set_status(
            ReleaseStatus.FAILED,
            "release.failed",
            f"{self._message(ReleaseStatus.FAILED)}: rollback_failed after {because}",
            failure={"reason": Reason.ROLLBACK_FAILED.value, "after": because},
            finished_at=_now(),
        )
        return ReleaseStatus.FAILED

    def _rolled_back_summary(self) -> str:
        """What the rollback put back and what never started, so the counts add up in the message."""
        targets = self._targets()
        rolled = [_name(t) for t in targets if TargetState(t.state) is TargetState.ROLLED_BACK]
        untouched = [_name(t) for t in targets if TargetState(t.state) is TargetState.PENDING]
        parts = []
        if rolled:
            parts.append(f"rolled back {len(rolled)} target(s) ({', '.join(rolled)})")
        if untouched:
            parts.append(f"{len(untouched)} never started ({', '.join(untouched)})")
        return "; " + "; ".join(parts) if parts else ""

    async def _restore_cut_over(self) -> bool:
        """Put every touched slot back on its previous version, start-first and gated; False if any fails."""
        ok = True
        never = asyncio.Event()
        for target in reversed(self._targets()):
            state = TargetState(target.state)
            if target.action not in CHANGING or state not in (TargetState.READY, TargetState.FAILED):
                continue
            previous = target.previous_instance_id
            if target.action == "create" or (previous and self.runtime.exists(previous)):
                # nothing of the old version to bring back, or it still serves: drop the new instance
                if state is TargetState.READY and target.instance_id:
                    await self.fx.stop(target.instance_id)
                self._set_target(
                    target,
                    TargetState.ROLLED_BACK,
                    "target.rolled_back",
                    reason=Reason.ROLLED_BACK_AFTER_FAILURE,
                )
                continue
            if not target.from_release_id:
                ok = False
                self._mark_rollback_failed(target, "the previous version is unknown")
                continue
            policy = self._policy(target.service)
            restored = self.runtime.new_instance_id(target.service, target.replica)
            error = await self.fx.start(restored, target.service, target.replica, target.from_release_id)
            readiness = (
                Readiness(False, Reason.START_FAILED, error)
                if error
                else await self.fx.wait_ready(restored, policy.health_check_timeout, policy.min_ready, never)
            )
            if not readiness.ready:
                await self.fx.stop(restored)
                ok = False
                self._mark_rollback_failed(target, readiness.detail)
                continue
            await self.fx.serve(restored)
            if state is TargetState.READY and target.instance_id:
                await self.fx.stop(target.instance_id)
            self._set_target(
                target,
                TargetState.ROLLED_BACK,
                "target.rolled_back",
                instance_id=restored,
                reason=Reason.ROLLED_BACK_AFTER_FAILURE,
            )
        return ok

    def _mark_rollback_failed(self, target: TargetRecord, detail: str) -> None:
        if TargetState(target.state) is TargetState.FAILED:
            self.journal.update_target(target.id, reason=Reason.ROLLBACK_FAILED.value, detail=detail)
            self._event("target.rollback_failed", target=_name(target), detail=detail)
        else:
            self._set_target(
                target,
                TargetState.FAILED,
                "target.rollback_failed",
                reason=Reason.ROLLBACK_FAILED,
                detail=detail,
            )


def _name(target: TargetRecord) -> str:
    return f"{target.service}-{target.replica}"


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)
