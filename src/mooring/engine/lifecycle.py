"""Bring an app up in dependency order and down in reverse, gated on readiness.

This is the minimal path (a fresh apply, re-apply of an unchanged app, down); the release executor
takes it over, with batches, replacement and a per-target journal.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from typing import TYPE_CHECKING, Any

from mooring.api.schemas import DownRequest, UpRequest
from mooring.engine.book import BookEntry
from mooring.engine.specs import build_instance
from mooring.errors import MooringError, NotFound
from mooring.health import HealthState
from mooring.manifest.diff import spec_hash
from mooring.manifest.durations import parse_duration
from mooring.manifest.graph import start_order
from mooring.release.plan import Action, PlanError, RunningInstance, make_plan
from mooring.runtime.states import InstanceState

if TYPE_CHECKING:
    from mooring.engine.core import Engine

log = logging.getLogger("mooring.engine")
LIVE = {InstanceState.STARTING, InstanceState.RUNNING, InstanceState.BACKOFF}
ENDED = {InstanceState.EXITED, InstanceState.FAILED, InstanceState.STOPPED}
DEFAULT_READY_TIMEOUT = 60.0


class Conflict(MooringError):
    code = "conflict"


class Lifecycle:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._locks: dict[str, asyncio.Lock] = {}

    def _lock(self, app: str) -> asyncio.Lock:
        return self._locks.setdefault(app, asyncio.Lock())

    def running(self, app: str) -> list[RunningInstance]:
        out = []
        for iid, entry in self.engine.book.of_app(app).items():
            record = self.engine.supervisor.record(iid)
            if record.state in LIVE:
                out.append(RunningInstance(iid, entry.service, entry.replica, entry.spec_hash))
        return out

    async def up(self, app: str, body: UpRequest) -> dict[str, Any]:
        try:
            snapshot = json.loads(body.snapshot)
        except json.JSONDecodeError as exc:
            raise MooringError(f"the snapshot is not JSON: {exc}") from None
        store = self.engine.store
        for ref, value in body.secrets.items():
            store.put_secret(ref, value)
        async with self._lock(app):
            try:
                plan = make_plan(snapshot, self.running(app), body.services)
            except PlanError as exc:
                raise NotFound(str(exc)) from None
            pending = [t for t in plan.targets if t.action in (Action.REPLACE, Action.REMOVE)]
            if pending:
                names = ", ".join(f"{t.name} ({t.action.value})" for t in pending[:5])
                raise Conflict(
                    f"app {app!r} runs a different version: {names}",
                    hint="replacing running instances comes with the release executor; for now: mooring down, then up",
                )
            release = store.create_release(
                app,
                snapshot=body.snapshot,
                manifest_hash=_hash(body.snapshot),
                scope=plan.scope,
                service_filter=list(body.services) if body.services else None,
            )
            store.update_release(release.id, status="in_progress")
            result = await self._start_services(app, snapshot, body.secrets, release.id, plan)
            status = "failed" if result["failed"] else "completed"
            store.update_release(release.id, status=status, message=f"apply {status}")
        result["instances"] = self.engine.instances(app)
        result["app"] = app
        result["manifest_hash"] = _hash(body.snapshot)
        return result

    async def _start_services(
        self, app: str, snapshot: dict[str, Any], secret_values: dict[str, str], release_id: str, plan: Any
    ) -> dict[str, Any]:
        started: list[str] = []
        unchanged = [t.name for t in plan.targets if t.action is Action.UNCHANGED]
        failed: list[dict[str, Any]] = []
        workers_done: set[str] = set()
        creates = [t for t in plan.targets if t.action is Action.CREATE]
        for service in plan.service_order:
            targets = [t for t in creates if t.service == service]
            if not targets:
                continue
            svc = snapshot["service"][service]
            for dep in svc.get("depends_on", []):
                if dep in snapshot.get("worker", {}) and dep not in workers_done:
                    failure = await self._run_worker(app, dep, snapshot, secret_values, release_id)
                    if failure:
                        failed.append(failure)
                        return {"started": started, "unchanged": unchanged, "failed": failed}
                    workers_done.add(dep)
            timeout = parse_duration(svc["rollout"]["health_check_timeout"]) or 0.0
            ids = list(
                await asyncio.gather(
                    *(
                        self._start(app, service, t.replica, snapshot, secret_values, release_id)
                        for t in targets
                    )
                )
            )
            outcomes = await asyncio.gather(*(self._wait_ready(iid, timeout) for iid in ids))
            for iid, problem in zip(ids, outcomes, strict=True):
                if problem:
                    failed.append({"instance": iid, "service": service, "reason": problem})
                else:
                    started.append(iid)
            if failed:
                break  # dependents of a failed service are not started
        return {"started": started, "unchanged": unchanged, "failed": failed}

    async def _start(
        self,
        app: str,
        service: str,
        replica: int,
        snapshot: dict[str, Any],
        secret_values: dict[str, str],
        release_id: str,
    ) -> str:
        svc = snapshot["service"][service]
        planned = build_instance(app, service, replica, snapshot, secret_values, release_id, spec_hash(svc))
        iid = planned.spec.instance_id
        self.engine.book.add(
            iid, BookEntry(app, service, replica, release_id, spec_hash(svc), planned.ports, planned.probe)
        )
        await self.engine.supervisor.start(planned.spec)
        self.engine.watch_health(iid)
        return iid

    async def _wait_ready(self, iid: str, timeout: float) -> str | None:
        """None when ready; else why not (``process_exited``, ``readiness_timeout``, ...)."""
        supervisor, prober = self.engine.supervisor, self.engine.prober
        if iid not in prober or timeout == 0:
            try:
                record = await supervisor.wait_for(iid, {InstanceState.RUNNING, *ENDED}, timeout or 30.0)
            except TimeoutError:
                return "readiness_timeout: not running in time"
            return (
                None if record.state is InstanceState.RUNNING else f"start_failed: {record.last_exit_message}"
            )
        healthy = asyncio.ensure_future(prober.wait_for(iid, {HealthState.HEALTHY}, timeout))
        died = asyncio.ensure_future(supervisor.wait_for(iid, {InstanceState.FAILED}, timeout))
        try:
            done, _ = await asyncio.wait({healthy, died}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (healthy, died):
                task.cancel()
            await asyncio.gather(healthy, died, return_exceptions=True)
        if healthy in done and not healthy.cancelled() and healthy.exception() is None:
            return None
        record = supervisor.record(iid)
        if record.state is InstanceState.FAILED:
            return f"process_exited: {record.last_exit_message}"
        last = prober.status(iid).last_result
        detail = f" (last probe: {last.detail})" if last else ""
        return f"readiness_timeout: not healthy within {timeout:g}s{detail}"

    async def _run_worker(
        self, app: str, name: str, snapshot: dict[str, Any], secret_values: dict[str, str], release_id: str
    ) -> dict[str, Any] | None:
        """Run a worker to completion before the services that depend on it; its failure stops the apply."""
        worker = dict(snapshot["worker"][name])
        worker.setdefault("replicas", 1)
        worker.setdefault("ports", [])
        view = {**snapshot, "service": {**snapshot.get("service", {}), name: worker}}
        planned = build_instance(app, name, 1, view, secret_values, release_id, spec_hash(worker))
        iid = planned.spec.instance_id
        supervisor = self.engine.supervisor
        self.engine.book.add(iid, BookEntry(app, name, 1, release_id, spec_hash(worker), {}, None))
        await supervisor.start(planned.spec)
        limit = parse_duration(worker.get("timeout", "0s")) or 24 * 3600.0
        try:
            record = await supervisor.wait_for(iid, ENDED, limit)
        except TimeoutError:
            await supervisor.stop(iid)
            record = supervisor.record(iid)
            problem: str | None = f"worker {name} ran longer than its timeout {limit:g}s"
        else:
            problem = (
                None if record.last_exit_code == 0 else f"worker {name} failed: {record.last_exit_message}"
            )
        await supervisor.forget(iid)
        self.engine.book.entries.pop(iid, None)
        self.engine.store.delete_instance(iid)
        return {"instance": iid, "service": name, "reason": problem} if problem else None

    async def down(self, app: str, body: DownRequest) -> dict[str, Any]:
        async with self._lock(app):
            entries = self.engine.book.of_app(app)
            if body.services:
                entries = {i: e for i, e in entries.items() if e.service in body.services}
            latest = self.engine.store.latest_release(app)
            order = _service_order(latest.snapshot if latest else None, entries)
            stopped: list[str] = []
            for service in reversed(order):
                ids = [i for i, e in entries.items() if e.service == service]
                for iid in ids:
                    if iid in self.engine.prober:
                        self.engine.prober.unregister(iid)
                await self.engine.supervisor.stop_all(ids)
                for iid in ids:
                    await self.engine.supervisor.forget(iid)
                    self.engine.book.forget(iid)
                    stopped.append(iid)
        return {"app": app, "stopped": stopped}


def _hash(snapshot_text: str) -> str:
    from mooring.manifest.snapshot import canonical_json, content_hash

    return content_hash(canonical_json(json.loads(snapshot_text)))


def _service_order(snapshot_text: str | None, entries: dict[str, BookEntry]) -> list[str]:
    services = {e.service for e in entries.values()}
    edges: dict[str, tuple[str, ...]] = {s: () for s in services}
    if snapshot_text:
        snap = json.loads(snapshot_text)
        for name, svc in snap.get("service", {}).items():
            if name in services:
                edges[name] = tuple(d for d in svc.get("depends_on", []) if d in services)
    try:
        return start_order(edges)
    except ValueError:
        return sorted(services)


def new_release_id() -> str:
    return secrets.token_hex(6)
