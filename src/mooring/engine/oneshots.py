"""One-shot runs of crons and workers: start the instance through the drivers, bound it by its timeout,
record how it ended as app events, and keep its instance (exited) until the next run of the same name,
so ``mooring logs NAME`` still reads the last run."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mooring.engine.book import BookEntry, InstanceBook
from mooring.engine.journal import Journal
from mooring.engine.secret_material import SecretMaterial
from mooring.engine.snapshots import Snapshots
from mooring.engine.specs import build_instance, new_instance_id
from mooring.errors import Conflict, NotFound
from mooring.manifest.diff import spec_hash
from mooring.manifest.durations import parse_duration
from mooring.runtime.container import ContainerSpec
from mooring.runtime.dispatch import Drivers
from mooring.runtime.log_reader import STAMP_WIDTH, timestamp_of
from mooring.runtime.states import InstanceState

log = logging.getLogger("mooring.engine")
ENDED = {InstanceState.EXITED, InstanceState.FAILED, InstanceState.STOPPED}
LOG_LINES_ON_FAILURE = 20
OUTPUT_LINES = 100_000  # a run's output is read whole from its log files
NO_LIMIT = 10 * 366 * 86400.0  # timeout 0: a deadline no run reaches


@dataclass
class Run:
    """One run of a cron or worker; ``outcome`` is set once it ended."""

    app: str
    kind: str  # "cron" or "worker"
    name: str
    release_id: str
    trigger: str  # "schedule" or "manual"
    instance_id: str = ""
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    outcome: str | None = None  # succeeded, failed, timed_out, could_not_start, exit_unknown
    exit_code: int | None = None
    error: str | None = None
    task: asyncio.Task[None] | None = None

    def view(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "kind": self.kind,
            "name": self.name,
            "release_id": self.release_id,
            "trigger": self.trigger,
            "instance_id": self.instance_id,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "outcome": self.outcome,
            "exit_code": self.exit_code,
            "error": self.error,
        }


class OneShots:
    """Runs crons and workers once; at most one run of a name per app at a time."""

    def __init__(
        self,
        snapshots: Snapshots,
        book: InstanceBook,
        drivers: Drivers,
        journal: Journal,
        secret_material: SecretMaterial,
        on_run_ended: Callable[[Run], None],
    ) -> None:
        self.snapshots = snapshots
        self.book = book
        self.drivers = drivers
        self.journal = journal
        self.secret_material = secret_material
        self._on_run_ended = on_run_ended  # the scheduler frees the cron for its next tick
        self.runs: dict[str, Run] = {}  # instance id -> its run (this engine's runs)
        self.current: dict[tuple[str, str], Run] = {}  # (app, name) -> the newest run
        self.ended_while_away: set[str] = set()  # runs found ended at adoption, their end unrecorded

    def running(self, app: str, name: str) -> Run | None:
        run = self.current.get((app, name))
        return run if run is not None and run.outcome is None else None

    def workload(self, release_id: str, name: str) -> tuple[str, dict[str, Any]]:
        """``("cron"|"worker", its snapshot section)``, or a 404 naming the known ones."""
        snapshot = self.snapshots.data(release_id)
        for kind in ("worker", "cron"):
            if name in snapshot.get(kind, {}):
                return kind, dict(snapshot[kind][name])
        known = sorted([*snapshot.get("worker", {}), *snapshot.get("cron", {})])
        raise NotFound(
            f"release {release_id} has no worker or cron named {name!r}",
            hint=f"its workers and crons: {', '.join(known)}" if known else "it declares none",
        )

    async def start(self, app: str, name: str, release_id: str, trigger: str) -> Run:
        """Start a run and return once its instance started (or could not); it ends in the background."""
        if self.running(app, name) is not None:
            busy = self.current[(app, name)]
            raise Conflict(
                f"{busy.kind} {name} of app {app!r} is still running as {busy.instance_id}",
                hint=f"wait for it: mooring logs {name} --app {app} -f",
            )
        kind, section = self.workload(release_id, name)
        run = Run(app, kind, name, release_id, trigger)
        self.current[(app, name)] = run
        await self._forget_previous(app, name)
        try:
            await self._launch(run, section)
        except Exception as exc:
            log.exception("%s %s of %s could not start", kind, name, app)
            if run.instance_id:  # the supervisor never took it: the book must not keep it either
                self.book.forget(run.instance_id)
            self._end(run, "could_not_start", None, f"{type(exc).__name__}: {exc}")
            return run
        self.runs[run.instance_id] = run
        limit = parse_duration(str(section.get("timeout") or "0s"))
        run.task = asyncio.create_task(self._watch(run, limit), name=f"{kind}-{app}-{name}")
        return run

    async def _launch(self, run: Run, section: dict[str, Any]) -> None:
        snapshot = self.snapshots.data(run.release_id)
        # a one-shot: the supervisor never restarts it (a worker's restart policy is the release's business)
        section.update(replicas=1, ports=[], restart="no", max_restarts=0, health_check=None)
        view = {**snapshot, "service": {**snapshot.get("service", {}), run.name: section}}
        iid = run.instance_id = new_instance_id(run.name, 1)  # set first: a failure below forgets it
        secrets, named, folder = self.secret_material(run.app, view, run.name, "service", iid)
        planned = build_instance(
            run.app,
            run.name,
            1,
            view,
            secrets,
            run.release_id,
            spec_hash(section),
            instance_id=iid,
            named_secrets=named,
            secrets_dir=folder,
        )
        if isinstance(planned.spec, ContainerSpec):  # a first run may need the image
            await self.drivers.container.ensure_image(planned.spec.image)
        iid = run.instance_id = planned.spec.instance_id
        entry = BookEntry(run.app, run.name, 1, run.release_id, spec_hash(section), {}, None, kind=run.kind)
        entry.driver = "container" if isinstance(planned.spec, ContainerSpec) else "process"
        self.book.add(iid, entry)
        run.started_at = time.time()
        self.journal.append_event(
            run.app,
            f"{run.kind}.started",
            {run.kind: run.name, "instance_id": iid, "release": run.release_id, "trigger": run.trigger},
        )
        await self.drivers.start(planned.spec)

    async def _watch(self, run: Run, limit: float, left: float | None = None) -> None:
        """Wait for the run's end, at most ``left`` (default ``limit``) seconds; then stop it."""
        supervisor = self.drivers
        try:
            record = await supervisor.wait_for(run.instance_id, ENDED, (left or limit) or NO_LIMIT)
        except TimeoutError:
            self.journal.append_event(
                run.app,
                f"{run.kind}.timed_out",
                {run.kind: run.name, "instance_id": run.instance_id, "timeout": limit},
            )
            await supervisor.stop(run.instance_id)
            record = supervisor.record(run.instance_id)
            await self._finish(run, "timed_out", record.last_exit_code, f"ran longer than {limit:g}s")
            return
        except Exception as exc:  # the instance vanished (down forgot it): still an ended run
            await self._finish(run, "failed", None, f"{type(exc).__name__}: {exc}")
            return
        ok = record.last_exit_code == 0
        if record.last_exit_code is None and record.state is InstanceState.EXITED:
            outcome = "exit_unknown"  # adopted after an engine restart: not our child, no exit status
        else:
            outcome = "succeeded" if ok else "failed"
        await self._finish(run, outcome, record.last_exit_code, None if ok else record.last_exit_message)

    async def _finish(self, run: Run, outcome: str, exit_code: int | None, error: str | None) -> None:
        tail: list[str] = []
        if outcome != "succeeded":
            with contextlib.suppress(Exception):
                tail = await self.drivers.logs.read_tail(run.instance_id, LOG_LINES_ON_FAILURE)
        self._end(run, outcome, exit_code, error, tail)

    def _end(
        self, run: Run, outcome: str, exit_code: int | None, error: str | None, tail: list[str] | None = None
    ) -> None:
        run.finished_at = time.time()
        run.outcome, run.exit_code, run.error = outcome, exit_code, error
        payload: dict[str, Any] = {
            run.kind: run.name,
            "instance_id": run.instance_id or None,
            "outcome": outcome,
            "exit_code": exit_code,
            "duration": round(run.finished_at - run.started_at, 3),
        }
        if error:
            payload["error"] = error
        if tail:
            payload["log_tail"] = tail
        self.journal.append_event(run.app, f"{run.kind}.finished", payload)
        self._on_run_ended(run)

    async def _forget_previous(self, app: str, name: str) -> None:
        """The previous run's exited instance makes way for the new one (its log files stay on disk)."""
        for iid, entry in list(self.book.of_app(app).items()):
            if entry.kind == "service" or entry.service != name:
                continue
            record = entry.record
            if record is not None and record.state not in ENDED:
                continue  # adopted after a restart and still running: leave it to finish
            with contextlib.suppress(Exception):
                await self.drivers.forget(iid)
            self.book.forget(iid)
            self.runs.pop(iid, None)

    def adopt(self) -> None:
        """Engine start: a run the previous engine left going is watched to its end (and blocks overlap);
        one that ended while no engine ran gets its ``finished`` event now (outcome ``exit_unknown``)."""
        for iid, entry in self.book.entries.items():
            record = entry.record
            if entry.kind == "service" or record is None:
                continue
            if record.state in ENDED and iid not in self.ended_while_away:
                continue
            run = Run(entry.app, entry.kind, entry.service, entry.release_id, "schedule", iid)
            run.started_at = record.started_at or run.started_at
            try:
                section = self.workload(entry.release_id, entry.service)[1]
                limit = parse_duration(str(section.get("timeout") or "0s"))
            except Exception:  # its release no longer names it: let it finish without a bound
                limit = 0.0
            left = max(0.001, run.started_at + limit - time.time()) if limit else 0.0
            self.current[(run.app, run.name)] = run
            self.runs[iid] = run
            watch = self._watch(run, limit, left)
            run.task = asyncio.create_task(watch, name=f"{run.kind}-{run.app}-{run.name}")

    async def wait(self, app: str, instance_id: str, timeout: float) -> dict[str, Any]:
        """The run's view once it ended, or as it is after ``timeout`` seconds."""
        run = self.runs.get(instance_id)
        if run is None or run.app != app:
            raise NotFound(
                f"no run {instance_id!r} of app {app!r} in this engine",
                hint=f"mooring events --app {app} shows the runs",
            )
        if run.task is not None and not run.task.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(run.task), timeout)
        return run.view()

    async def output_lines(self, instance_id: str) -> list[str]:
        """The run's log lines so far, without their timestamps (``stdout TEXT``, ``mooring TEXT``)."""
        lines = await self.drivers.logs.read_tail(instance_id, OUTPUT_LINES)
        return [line[STAMP_WIDTH + 1 :] if timestamp_of(line) else line for line in lines]

    async def close(self) -> None:
        """Engine shutdown: stop watching; the instances run on for the next engine to adopt."""
        tasks = [r.task for r in self.runs.values() if r.task is not None and not r.task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
