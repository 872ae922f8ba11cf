"""The cron scheduler: one asyncio task that sleeps until the next cron is due, woken when the set changes.

The live cron set of an app is the ``[cron.*]`` of its newest release that went live (``completed`` or
``partially_failed``); it is replaced whenever such a release ends (a rollback is a release too), dropped
by ``down`` of the whole app, and rebuilt from the store when the engine starts. A ``crons.stopped``
event on the live release remembers a ``down`` across restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from mooring.engine.cron_times import next_due
from mooring.engine.journal import Journal
from mooring.engine.oneshots import Run
from mooring.engine.snapshots import Snapshots
from mooring.manifest.diff import spec_hash
from mooring.store import Release, Store

log = logging.getLogger("mooring.engine")
LIVE_STATUSES = ("completed", "partially_failed")


@dataclass
class Cron:
    """One installed cron: its section of the live release and when it is due."""

    app: str
    name: str
    release_id: str
    section: dict[str, Any]
    installed_at: float
    due: float | None  # None while an ``every`` cron runs: its next time counts from the run's end
    last: Run | None = None

    def view(self, running: bool) -> dict[str, Any]:
        last = self.last
        return {
            "name": self.name,
            "schedule": self.section.get("schedule"),
            "every": self.section.get("every"),
            "timeout": self.section.get("timeout"),
            "release_id": self.release_id,
            "running": running,
            "next_due": _iso(self.due),
            "last_run": None
            if last is None
            else {
                "instance_id": last.instance_id or None,
                "trigger": last.trigger,
                "started_at": _iso(last.started_at),
                "finished_at": _iso(last.finished_at),
                "outcome": last.outcome or "running",
                "exit_code": last.exit_code,
            },
        }


def _iso(at: float | None) -> str | None:
    return datetime.fromtimestamp(at, UTC).isoformat() if at is not None else None


class CronRuns(Protocol):
    """What the scheduler uses of the one-shot runs (engine/oneshots.py): is one going, start one."""

    def running(self, app: str, name: str) -> Run | None: ...

    async def start(self, app: str, name: str, release_id: str, trigger: str) -> Run: ...


class CronScheduler:
    """Reads releases and their snapshots, records ``crons.stopped`` and ``cron.skipped``, and starts
    runs through ``runs``; a run's end comes back through ``run_ended`` (wired in engine/core.py)."""

    def __init__(self, store: Store, journal: Journal, snapshots: Snapshots, runs: CronRuns) -> None:
        self.store = store
        self.journal = journal
        self.snapshots = snapshots
        self.runs = runs
        self.crons: dict[tuple[str, str], Cron] = {}
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._starting: set[asyncio.Task[None]] = set()  # runs being started (an image pull may take long)

    def live_release(self, app: str) -> Release | None:
        return next((r for r in self.store.list_releases(app, limit=200) if r.status in LIVE_STATUSES), None)

    def start(self) -> None:
        """Engine start: install the crons of every app whose live release was not taken down."""
        for app in self.store.list_apps():
            live = self.live_release(app.name)
            if live is None:
                continue
            if any(e.type == "crons.stopped" for e in self.store.release_events(live.id)):
                continue
            self.refresh(app.name)
        self._task = asyncio.create_task(self._loop(), name="cron-scheduler")

    def refresh(self, app: str) -> None:
        """Install the crons of the app's live release; an unchanged cron keeps its timing and last run."""
        live = self.live_release(app)
        sections: dict[str, Any] = {}
        if live is not None:
            sections = dict(self.snapshots.decoded(live.id).of_kind("cron"))
        now = time.time()
        for key in [k for k in self.crons if k[0] == app and k[1] not in sections]:
            del self.crons[key]
        for name, section in sections.items():
            assert live is not None
            old = self.crons.get((app, name))
            if old is not None and spec_hash(old.section) == spec_hash(section):
                old.release_id = live.id
                continue
            cron = Cron(app, name, live.id, dict(section), now, None, old.last if old else None)
            cron.due = next_due(section, now, None, now)
            self.crons[(app, name)] = cron
        self._changed.set()

    def stop_app(self, app: str) -> None:
        """``down`` of the whole app: no more runs, also after an engine restart."""
        if not any(k[0] == app for k in self.crons):
            return
        for key in [k for k in self.crons if k[0] == app]:
            del self.crons[key]
        live = self.live_release(app)
        self.journal.append_event(
            app, "crons.stopped", {"reason": "down"}, release_id=live.id if live else None
        )
        self._changed.set()

    def run_ended(self, run: Run) -> None:
        cron = self.crons.get((run.app, run.name))
        if cron is None or run.kind != "cron":
            return
        cron.last = run
        if cron.section.get("every"):
            now = time.time()
            cron.due = next_due(cron.section, now, run.finished_at or now, cron.installed_at)
            self._changed.set()

    def views(self, app: str) -> list[dict[str, Any]]:
        return [
            cron.view(self.runs.running(app, name) is not None)
            for (a, name), cron in sorted(self.crons.items())
            if a == app
        ]

    async def _loop(self) -> None:
        while True:
            self._changed.clear()
            now = time.time()
            for cron in [c for c in self.crons.values() if c.due is not None and c.due <= now]:
                self._tick(cron, now)
            dues = [c.due for c in self.crons.values() if c.due is not None]
            wait = max(0.0, min(dues) - time.time()) if dues else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), wait)

    def _tick(self, cron: Cron, now: float) -> None:
        busy = self.runs.running(cron.app, cron.name)
        if cron.section.get("every"):
            cron.due = None  # set again when this run ends
        else:
            cron.due = next_due(cron.section, now, None, cron.installed_at)
        if busy is not None and cron.due is None:
            return  # an every-cron that finds a run going (a manual one, or one adopted after a restart)
        if busy is not None:
            self.journal.append_event(
                cron.app,
                "cron.skipped",
                {"cron": cron.name, "running": busy.instance_id, "reason": "the previous run still goes"},
            )
            return
        # started aside, so the loop never waits on one cron (a container cron may pull its image first);
        # oneshots.start marks the run as going before its first await, so the next tick sees it
        task = asyncio.create_task(self._start(cron, now), name=f"cron-start-{cron.app}-{cron.name}")
        self._starting.add(task)
        task.add_done_callback(self._starting.discard)

    async def _start(self, cron: Cron, now: float) -> None:
        try:
            cron.last = await self.runs.start(cron.app, cron.name, cron.release_id, "schedule")
        except Exception:  # the scheduler must outlive any one cron's problem
            log.exception("cron %s of %s: could not run", cron.name, cron.app)
            if cron.due is None:
                cron.due = next_due(cron.section, now, time.time(), cron.installed_at)
                self._changed.set()

    async def close(self) -> None:
        tasks = [t for t in (self._task, *self._starting) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
