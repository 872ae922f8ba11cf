"""Releases in the engine: create them under the app lease, run their executors, steer and recover them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from mooring.engine import outage
from mooring.engine.app_leases import AppLeases
from mooring.engine.book import InstanceBook
from mooring.engine.journal import Journal
from mooring.engine.lineage import NothingToDo, prev_ok, rollback_choice, serving_base
from mooring.engine.release_runtime import EngineRuntime
from mooring.engine.secret_pins import pin_secret_versions
from mooring.errors import Conflict, LeaseConflict, NotFound, StoreError, UsageError
from mooring.manifest.snapshot import ReleaseSnapshot, SnapshotError, canonical_json, content_hash
from mooring.manifest.source import SourceError, stamp_sources
from mooring.release.batches import make_batches
from mooring.release.executor import ReleaseExecutor
from mooring.release.model import Control, Counters, ReleaseStatus, TargetState, derive_rollout_state
from mooring.release.plan import Action, Plan, PlanError, RunningInstance, make_plan
from mooring.release.transitions import move_release, move_target
from mooring.runtime.states import InstanceState
from mooring.store import NewTarget, Release, Store
from mooring.store.columns import utcnow
from mooring.store.releases import new_release_id

log = logging.getLogger("mooring.engine")
LIVE = {InstanceState.STARTING, InstanceState.RUNNING, InstanceState.BACKOFF}
OPEN_STATUSES = ("pending", "in_progress", "partially_failed", "failed")


def with_source_digests(snapshot: Any) -> Any:
    """The snapshot with the digest of each process service's code (manifest/source.py)."""
    if not isinstance(snapshot, dict):
        return snapshot  # not_a_snapshot reports it at planning
    try:
        return stamp_sources(snapshot)
    except SourceError as exc:
        raise UsageError(str(exc), hint="docs/manifest.md, `source`") from None
    except (TypeError, AttributeError, KeyError) as exc:
        raise not_a_snapshot(exc) from None


def not_a_snapshot(exc: BaseException) -> UsageError:
    """A snapshot that parses as JSON but is not shaped like one `mooring up` builds."""
    return UsageError(
        f"the snapshot is not a mooring snapshot: {type(exc).__name__}: {exc}",
        hint="send the snapshot that mooring up builds from a valid manifest (mooring validate checks it)",
    )


class ReleaseManager(AppLeases):
    """What it needs of the rest of the engine comes in as callables (wired in engine/core.py):

    - ``check_claims(app, snapshot)`` refuses routes another app serves (engine/http_routes.py);
    - ``pin_images(app, snapshot)`` pins each container image to its id, pulling it (engine/image_pins.py);
    - ``reconcile_listeners(app)`` binds and closes the published ports once a release ends, still
      under its lease (engine/published.py);
    - ``reconcile_orphans(app)`` looks for instances no release names, after the lease is let go
      (engine/reconcile.py);
    - ``on_settled(app)``: the app's release stopped running, its live crons may change (engine/schedules.py).
    """

    def __init__(
        self,
        store: Store,
        journal: Journal,
        book: InstanceBook,
        runtime: EngineRuntime,
        *,
        check_claims: Callable[[str, dict[str, Any]], None],
        pin_images: Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]],
        reconcile_listeners: Callable[[str], Awaitable[None]],
        reconcile_orphans: Callable[[str], None],
        on_settled: Callable[[str], None],
    ) -> None:
        super().__init__(store)
        self.journal = journal
        self.book = book
        self.runtime = runtime
        self.check_claims = check_claims
        self.pin_images = pin_images
        self.reconcile_listeners = reconcile_listeners
        self.reconcile_orphans = reconcile_orphans
        self.on_settled = on_settled
        self.executors: dict[str, tuple[ReleaseExecutor, asyncio.Task[Any]]] = {}
        self.background: set[asyncio.Task[Any]] = set()  # parking and auto-resume after an outage

    # --- apply ------------------------------------------------------------------------------

    def running(self, app: str) -> list[RunningInstance]:
        out = []
        for iid, entry in self.book.of_app(app).items():
            record = entry.record
            if entry.kind != "service":
                continue  # a cron or worker run ends by itself; a release neither replaces nor stops it
            if record is not None and record.state in LIVE:
                out.append(
                    RunningInstance(iid, entry.service, entry.replica, entry.spec_hash, entry.release_id)
                )
        return out

    async def apply(
        self,
        app: str,
        snapshot_text: str,
        secrets: dict[str, str],
        services: Sequence[str] | None = None,
        wait_lock: float | None = None,
        trigger: str = "apply",
        source_release_id: str | None = None,
        force: bool = False,
    ) -> Release | NothingToDo:
        """Record and launch a release of the snapshot; an apply that changes nothing records nothing."""
        try:
            decoded = ReleaseSnapshot.decode(snapshot_text)
        except SnapshotError as exc:
            raise UsageError(str(exc)) from None
        try:  # another app's host and path: refused before anything is recorded or started
            self.check_claims(app, decoded.data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise not_a_snapshot(exc) from None
        if trigger != "rollback":  # a rollback restores the recorded digests; others read the code now
            decoded = ReleaseSnapshot(await asyncio.to_thread(with_source_digests, decoded.data))
            decoded = ReleaseSnapshot(await self.pin_images(app, decoded.data))
        snapshot = decoded.data
        for ref, value in secrets.items():
            self.store.put_secret(ref, value)
        try:
            pin_secret_versions(self.store, app, snapshot, keep_pinned=trigger == "rollback")
        except (AttributeError, TypeError) as exc:
            raise not_a_snapshot(exc) from None
        decoded = ReleaseSnapshot(snapshot)  # text and hash over the pinned versions
        release_id = new_release_id()
        await self.acquire(app, release_id, wait_lock)
        try:
            try:
                plan = make_plan(snapshot, self.running(app), services, force=force)
                batches = make_batches(plan, snapshot)
            except PlanError as exc:
                raise NotFound(str(exc), hint="mooring validate --json lists the services") from None
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise not_a_snapshot(exc) from None
            text = decoded.text
            current = self._already_current(app, plan, decoded.hash)
            if current is not None:
                self.release_lease(app, release_id)
                return NothingToDo(current)
            release = self.store.create_release(
                app,
                snapshot=text,
                manifest_hash=decoded.hash,
                trigger=trigger,
                source_release_id=source_release_id,
                scope=plan.scope,
                service_filter=list(services) if services else None,
                release_id=release_id,
            )
            self._supersede_open(app, release.id)
            batch_of = {(t.service, t.replica): b.number for b in batches for t in b.targets}
            self.store.add_targets(
                release.id,
                [
                    NewTarget(
                        service=t.service,
                        replica=t.replica,
                        action=t.action.value,
                        batch=batch_of.get((t.service, t.replica), 0),
                        from_spec_hash=t.from_spec_hash,
                        to_spec_hash=t.to_spec_hash,
                        previous_instance_id=t.previous_instance_id,
                        from_release_id=t.from_release_id,
                        state="skipped" if t.action is Action.UNCHANGED else "pending",
                        reason="unchanged" if t.action is Action.UNCHANGED else None,
                    )
                    for t in plan.targets
                ],
            )
            counts = Counters.of(
                TargetState.SKIPPED if t.action is Action.UNCHANGED else TargetState.PENDING
                for t in plan.targets
            )
            self.store.update_release(
                release.id,
                targets_total=counts.total,
                targets_unchanged=counts.unchanged,
                targets_pending=counts.left,
                message=f"{trigger} pending",
            )
            self.journal.append_event(
                app,
                "release.created",
                {
                    "trigger": trigger,
                    "scope": plan.scope,
                    "source": source_release_id,
                    "counts": plan.to_dict()["counts"],
                },
                release_id=release.id,
            )
        except BaseException:
            self.release_lease(app, release_id)
            raise
        self._launch(release.id, app)
        return self.store.get_release(release.id)

    def _already_current(self, app: str, plan: Plan, manifest_hash: str) -> Release | None:
        """The release that already is what this apply asks for, when it would change nothing: every
        target unchanged, no release open (a paused one is superseded by a new apply, so that is a
        change) and the newest completed release has the same manifest (crons come from it)."""
        if any(t.action is not Action.UNCHANGED for t in plan.targets):
            return None
        if any(r.status in ("pending", "in_progress") or r.control != "active" for r in self._open(app)):
            return None
        newest = self.store.last_successful_release(app)
        if newest is None or newest.manifest_hash != manifest_hash:
            return None
        return newest

    def _open(self, app: str) -> list[Release]:
        return self.store.find_releases(app=app, status=OPEN_STATUSES)

    def _supersede_open(self, app: str, newer: str) -> None:
        """A paused or blocked release of the app is replaced by the new apply (the lease is ours)."""
        for old in self.store.find_releases(app=app, status=OPEN_STATUSES):
            if old.id == newer:
                continue
            if old.id in self.executors and not self.executors[old.id][1].done():
                continue
            open_in_flight = old.status in ("pending", "in_progress")
            if not (open_in_flight or old.control != "active"):
                continue  # a finished failure that is not paused stays as it is
            move_release(
                self.journal,
                old,
                ReleaseStatus.SUPERSEDED,
                "release.superseded",
                {"by": newer, "previous": old.status},
                superseded_by=newer,
                message=f"superseded by {newer}",
            )

    def _launch(self, release_id: str, app: str) -> None:
        executor = ReleaseExecutor(release_id, self.journal, self.runtime)
        task = asyncio.create_task(self._drive(executor, app), name=f"release-{release_id}")
        self.executors[release_id] = (executor, task)

    async def _drive(self, executor: ReleaseExecutor, app: str) -> None:
        heartbeat = asyncio.create_task(self._heartbeat(app, executor.release_id))
        release_id = executor.release_id
        try:
            await outage.run_supervised(self, executor, app)
        finally:
            heartbeat.cancel()
            try:  # listeners follow the outcome, still under the lease (not when the engine shuts down)
                current = asyncio.current_task()
                if current is None or not current.cancelling():
                    await self.reconcile_listeners(app)
            except Exception:
                log.exception("release %s: reconciling the published ports of %s failed", release_id, app)
            with contextlib.suppress(StoreError):  # an outage: the lease expires or is reclaimed
                self.release_lease(app, release_id)
            current = asyncio.current_task()
            if current is None or not current.cancelling():
                self.reconcile_orphans(app)  # no instance left behind

    # --- operator control -------------------------------------------------------------------

    def _open_release(self, app: str) -> Release:
        for release in self.store.find_releases(app=app, status=OPEN_STATUSES):
            if release.status in ("pending", "in_progress") or release.control != "active":
                return release
        raise Conflict(
            f"app {app!r} has no release in progress or paused", hint="mooring history --app " + app
        )

    async def control(self, app: str, action: str) -> Release:
        release = self._open_release(app)
        running = release.id in self.executors and not self.executors[release.id][1].done()
        if action == "pause":
            if release.control != "active" or release.status not in ("pending", "in_progress"):
                raise Conflict(
                    f"release {release.id} is {release.status}/{release.control}; nothing to pause"
                )
            self.store.update_release(release.id, control=Control.PAUSED.value)
            self.journal.append_event(app, "release.pause_requested", {}, release_id=release.id)
            if running:
                self.executors[release.id][0].notify_control()
                await self._settle(release.id)
            return self.store.get_release(release.id)
        if action == "resume":
            if release.control != "paused":
                raise Conflict(f"release {release.id} is not paused (control {release.control})")
            if (release.failure or {}).get("reason") == "rollback_failed":
                raise Conflict(
                    f"release {release.id} failed while rolling back; it is final",
                    hint="apply a fixed manifest with mooring up",
                )
            await self.acquire(app, release.id, None)
            for target in self.store.list_targets(release.id):
                if target.state == "failed":  # resume retries it
                    move_target(
                        self.journal,
                        app,
                        release.id,
                        target,
                        TargetState.PENDING,
                        None,
                        reason=None,
                        detail="",
                    )
            self.store.update_release(release.id, control="active", resumed_count=release.resumed_count + 1)
            if outage.parked_reason(release.failure) is not None:
                self.store.update_release(release.id, failure=None)  # the cause is gone: nothing failed
            self.journal.append_event(app, "release.resume_requested", {}, release_id=release.id)
            self._launch(release.id, app)
            return self.store.get_release(release.id)
        if action == "cancel":
            self.store.update_release(release.id, control=Control.CANCEL_REQUESTED.value)
            self.journal.append_event(app, "release.cancel_requested", {}, release_id=release.id)
            if running:
                self.executors[release.id][0].notify_control()
            else:
                await self.acquire(app, release.id, None)
                self._launch(release.id, app)
            await self._settle(release.id)
            return self.store.get_release(release.id)
        raise UsageError(f"unknown rollout action {action!r}; use pause, resume or cancel")

    async def _settle(self, release_id: str, timeout: float = 120.0) -> None:
        entry = self.executors.get(release_id)
        if entry is not None and not entry[1].done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(entry[1]), timeout)

    async def rollback(
        self, app: str, release_id: str | None, wait_lock: float | None = None
    ) -> Release | NothingToDo:
        target = self.rollback_target(app, release_id)
        return await self.apply(
            app, target.snapshot, {}, None, wait_lock, trigger="rollback", source_release_id=target.id
        )

    async def restart(
        self, app: str, services: Sequence[str] | None, wait_lock: float | None = None
    ) -> Release | NothingToDo:
        """Replace the instances of ``services`` (all when None) with the serving release's spec."""
        base = serving_base(self.store, app)
        return await self.apply(
            app,
            base.snapshot,
            {},
            services,
            wait_lock,
            trigger="restart",
            source_release_id=base.id,
            force=True,
        )

    def record_down(
        self, app: str, services: Sequence[str] | None, stopped: Sequence[tuple[str, int, str]]
    ) -> Release | None:
        """`mooring down` as history: a finished release with trigger ``down`` whose snapshot is what
        still runs (nothing, after a full down), its targets the stopped slots, and an event."""
        latest = self.store.latest_release(app)
        if latest is None or (not stopped and latest.trigger == "down"):
            return None  # never applied, or already down: nothing new to record
        snapshot = dict(ReleaseSnapshot.decode(latest.snapshot).data)  # a copy: sections are replaced
        for kind in ("service", "worker", "cron") if not services else ("service",):
            section = snapshot.get(kind) or {}
            snapshot[kind] = {k: v for k, v in section.items() if services and k not in services}
        text = canonical_json(snapshot)
        release = self.store.create_release(
            app,
            snapshot=text,
            manifest_hash=content_hash(text),
            trigger="down",
            source_release_id=latest.id,
            scope="replacement",
            service_filter=list(services) if services else None,
        )
        self.store.add_targets(
            release.id,
            [
                NewTarget(service, replica, "remove", 0, previous_instance_id=iid, state="removed")
                for service, replica, iid in stopped
            ],
        )
        self._supersede_open(app, release.id)
        what = f"services {', '.join(services)}" if services else "the app"
        message = f"down: stopped {len(stopped)} instance(s) of {what}"
        now = utcnow()
        self.store.update_release(
            release.id,
            status="completed",
            targets_total=len(stopped),
            targets_removed=len(stopped),
            message=message,
            started_at=now,
            finished_at=now,
        )
        self.journal.append_event(
            app,
            "app.down",
            {"services": list(services) if services else None, "stopped": [iid for *_, iid in stopped]},
            release_id=release.id,
        )
        return self.store.get_release(release.id)

    def rollback_target(self, app: str, release_id: str | None) -> Release:
        return rollback_choice(self.store, app, release_id)[0]

    def rollback_choice(self, app: str, release_id: str | None) -> tuple[Release, str]:
        return rollback_choice(self.store, app, release_id)

    def prev_ok(self, latest: Release) -> Release | None:
        return prev_ok(self.store, latest)

    # --- recovery and reads -------------------------------------------------------------------

    def recover(self) -> None:
        """Resume in place every release a previous engine left in flight; paused ones stay paused."""
        self.reclaim_dead_leases()
        for release in self.store.find_releases(
            status=("pending", "in_progress", "partially_failed", "failed")
        ):
            if release.control == "paused" and outage.parked_reason(release.failure) in outage.AUTO_RESUMED:
                # parked by a store outage of the previous engine: resume it like the operator would
                outage.spawn(outage.resume_when_store_answers(self, release.id, release.app), self.background)
                continue
            if release.control == "paused":
                continue
            if release.status in ("partially_failed", "failed") and release.control == "active":
                continue  # finished
            try:
                self.take_lease(release.app, release.id)
            except LeaseConflict as exc:
                log.error("cannot resume release %s: %s", release.id, exc)
                continue
            self.journal.append_event(
                release.app, "release.recovered", {"status": release.status}, release_id=release.id
            )
            log.warning("resuming release %s of %s after an engine restart", release.id, release.app)
            self._launch(release.id, release.app)

    def executing(self, app: str) -> bool:
        """Whether an executor of one of the app's releases is at work."""
        return any(not task.done() and ex.app == app for ex, task in self.executors.values())

    def running_count(self) -> int:
        """Release executors at work now (the ``mooring_releases_running`` gauge)."""
        return sum(1 for _, task in self.executors.values() if not task.done())

    async def wait(self, release_id: str, timeout: float) -> Release:
        await self._settle(release_id, timeout)
        return self.store.get_release(release_id)

    def view(self, release: Release, with_targets: bool = True) -> dict[str, Any]:
        counters = Counters(
            total=release.targets_total,
            pending=release.targets_pending,
            ready=release.targets_ready,
            failed=release.targets_failed,
            unchanged=release.targets_unchanged,
            removed=release.targets_removed,
        )
        state = derive_rollout_state(ReleaseStatus(release.status), Control(release.control), counters)
        running = release.id in self.executors and not self.executors[release.id][1].done()
        data: dict[str, Any] = {
            "id": release.id,
            "app": release.app,
            "number": release.number,
            "status": release.status,
            "rollout": {
                "state": state.value,
                "control": release.control,
                "active": running,
                "targets": {
                    "total": release.targets_total,
                    "ready": release.targets_ready,
                    "failed": release.targets_failed,
                    "unchanged": release.targets_unchanged,
                    "removed": release.targets_removed,
                    "left": release.targets_pending,
                    # not a column of its own: the targets in no other count are the rolled-back ones
                    "rolled_back": max(
                        0,
                        release.targets_total
                        - release.targets_ready
                        - release.targets_failed
                        - release.targets_unchanged
                        - release.targets_removed
                        - release.targets_pending,
                    ),
                },
            },
            "trigger": release.trigger,
            "source_release_id": release.source_release_id,
            "superseded_by": release.superseded_by,
            "manifest_hash": release.manifest_hash,
            "scope": release.scope,
            "service_filter": list(release.service_filter) if release.service_filter else None,
            "message": release.message,
            "failure": release.failure,
            "resumed_count": release.resumed_count,
            "created_at": release.created_at.isoformat(),
            "started_at": release.started_at.isoformat() if release.started_at else None,
            "finished_at": release.finished_at.isoformat() if release.finished_at else None,
        }
        if with_targets:
            data["targets"] = [
                {
                    "target": f"{t.service}-{t.replica}",
                    "service": t.service,
                    "replica": t.replica,
                    "action": t.action,
                    "state": t.state,
                    "reason": t.reason,
                    "detail": t.detail,
                    "batch": t.batch,
                    "instance_id": t.instance_id,
                    "previous_instance_id": t.previous_instance_id,
                }
                for t in self.store.list_targets(release.id)
            ]
        return data
