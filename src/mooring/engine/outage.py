"""An executor that cannot go on is parked, never left dead: journaled paused with the reason, and
resumed from the journal once the cause is gone (issue 17).

- ``store_unavailable``: a write to the state store failed even after its retry budget (a long lock,
  an unreachable database). The engine keeps trying to journal the pause, then resumes the release by
  itself as soon as the store accepts writes again; ``mooring rollout resume`` or the next engine start
  resume it too.
- ``executor_error``: the executor ended by an unexpected exception more often than it was restarted
  from the journal; the operator decides (resume, cancel, rollback).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from mooring.errors import MooringError, StoreError
from mooring.release.executor import ReleaseExecutor

if TYPE_CHECKING:
    from mooring.engine.releases import ReleaseManager

log = logging.getLogger("mooring.engine")

STORE_UNAVAILABLE = "store_unavailable"
EXECUTOR_ERROR = "executor_error"
AUTO_RESUMED = (STORE_UNAVAILABLE,)
RESTARTS = 3  # unexpected executor exceptions restarted from the journal before it is parked
RETRY_EVERY = 2.0  # seconds between attempts to journal the pause, then to resume


def parked_reason(failure: dict[str, Any] | None) -> str | None:
    reason = (failure or {}).get("reason")
    return str(reason) if reason in (STORE_UNAVAILABLE, EXECUTOR_ERROR) else None


def park_message(reason: str, error: BaseException) -> str:
    what = f"{type(error).__name__}: {error}" if not isinstance(error, MooringError) else error.message
    if reason == STORE_UNAVAILABLE:
        return (
            f"paused: the state store did not accept writes ({what}); the engine resumes the release "
            "by itself once the store answers (or: mooring rollout resume)"
        )
    return f"paused: the release executor failed {RESTARTS + 1} times ({what}); see the engine log"


async def park(manager: ReleaseManager, release_id: str, app: str, reason: str, error: BaseException) -> None:
    """Journal the release paused with ``reason``; keep trying while the store refuses the write."""
    message = park_message(reason, error)
    failure = {"reason": reason, "detail": message}
    while True:
        try:
            release = manager.store.get_release(release_id)
            if release.status not in ("pending", "in_progress"):
                return  # it ended after all (its last write went through)
            manager.store.update_release(release_id, control="paused", failure=failure, message=message)
            manager.journal.append_event(
                app,
                "release.paused",
                {"status": release.status, "reason": reason, "message": message},
                release_id=release_id,
            )
            log.error("release %s of %s parked: %s", release_id, app, message)
            return
        except MooringError as exc:
            log.warning("release %s: cannot journal the pause yet (%s); retrying", release_id, exc.message)
        except Exception:
            log.exception("release %s: cannot journal the pause yet; retrying", release_id)
        await asyncio.sleep(RETRY_EVERY)


async def resume_when_store_answers(manager: ReleaseManager, release_id: str, app: str) -> None:
    """Resume a release parked for ``store_unavailable`` as soon as a write goes through again."""
    while True:
        await asyncio.sleep(RETRY_EVERY)
        try:
            release = manager.store.get_release(release_id)
            if release.control != "paused" or parked_reason(release.failure) != STORE_UNAVAILABLE:
                return  # the operator acted meanwhile (resume, cancel, a newer apply)
            await manager.control(app, "resume")
            log.warning("release %s of %s resumed: the state store accepts writes again", release_id, app)
            return
        except MooringError as exc:
            log.warning("release %s: still cannot resume (%s)", release_id, exc.message)
        except Exception:
            log.exception("release %s: resuming after the store outage failed; retrying", release_id)


async def run_supervised(manager: ReleaseManager, executor: ReleaseExecutor, app: str) -> None:
    """Run the executor to an outcome; an exception restarts it from the journal, a store outage parks it."""
    release_id = executor.release_id
    restarts = 0
    while True:
        try:
            status = await executor.run()
            log.info("release %s of %s: %s", release_id, app, status.value)  # an outcome, not a fault
            manager.engine.schedules.refresh(app)  # the release that went live brings its crons
            return
        except StoreError as exc:
            # the store refused a write past its retry budget: park, never fail, never die
            log.error("release %s: the state store is unavailable: %s", release_id, exc.message)
            await park(manager, release_id, app, STORE_UNAVAILABLE, exc)
            spawn(resume_when_store_answers(manager, release_id, app), manager.background)
            return
        except Exception as exc:
            log.exception("release %s: executor error", release_id)
            restarts += 1
            if restarts > RESTARTS:
                await park(manager, release_id, app, EXECUTOR_ERROR, exc)
                return
            await asyncio.sleep(0.5 * restarts)
            with contextlib.suppress(Exception):
                manager.journal.append_event(
                    app,
                    "release.executor_restarted",
                    {"error": f"{type(exc).__name__}: {exc}", "restart": restarts},
                    release_id=release_id,
                )
            # a new executor reads everything from the journal: targets caught mid-start requeue
            executor = ReleaseExecutor(release_id, manager.journal, manager.runtime)
            manager.executors[release_id] = (executor, manager.executors[release_id][1])


def note_stall(manager: ReleaseManager, seconds: float) -> None:
    """The engine did not run for ``seconds``: running releases' deadlines were extended by it."""
    for release_id, (executor, task) in list(manager.executors.items()):
        if task.done():
            continue
        with contextlib.suppress(StoreError):
            manager.journal.append_event(
                executor.app,
                "engine.stalled",
                {
                    "seconds": round(seconds, 1),
                    "detail": f"the engine did not run for {seconds:.1f}s (stopped, paused or "
                    "starved); readiness deadlines do not count that time",
                },
                release_id=release_id,
            )


def spawn(coro: Any, tasks: set[asyncio.Task[Any]]) -> None:
    """Run ``coro`` in the background, kept referenced (a dropped task can be collected mid-run)."""
    task = asyncio.ensure_future(coro)
    tasks.add(task)
    task.add_done_callback(tasks.discard)


async def cancel_all(tasks: set[asyncio.Task[Any]]) -> None:
    for task in list(tasks):
        task.cancel()
    with contextlib.suppress(Exception):
        await asyncio.gather(*tasks, return_exceptions=True)
