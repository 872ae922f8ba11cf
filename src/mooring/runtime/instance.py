"""One supervised instance: a lifecycle task, and ``_change_state``, the one place its state moves.

Every state change is checked against :data:`~.states.LEGAL_TRANSITIONS` and handed to the
engine's ``on_change`` (awaited when it is a coroutine) before the next side effect.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from . import instance_files
from .errors import InstanceBusy
from .exits import classify_exit
from .instance_cgroup import InstanceCgroup
from .launch import launch
from .log_reader import LogReader
from .logs import InstanceLog, LogPaths
from .policy import decide_after_run
from .proc import settled
from .process import ProcessEnd, ProcessHandle, StartFailure, kill_leftovers, reattach
from .record import InstanceRecord, exit_fields
from .settings import RuntimeSettings
from .spec import InstanceSpec
from .states import RESTING_STATES, ExitReason, ExitStatus, InstanceState, is_legal, signal_name

S = InstanceState
OnChange = Callable[[InstanceRecord], Awaitable[None] | None]
log = logging.getLogger(__name__)


def _join(*notes: str) -> str:
    return "; ".join(note for note in notes if note)


class Instance:
    """Runs, restarts, stops and adopts the process of one instance.

    Kept small (``__slots__``, no ``asyncio.Event``): the engine holds one per instance. A stop
    request is a flag plus a poke of the one future a backoff waits on (``_wake``).

    A lifecycle task runs only while there is something to do (start, backoff, an exit to judge,
    a stop). A *running* process needs none: the instance is parked on its end, a done callback
    on :meth:`ProcessHandle.ended` that launches the task again (``_park``). A task, its coroutine
    frames and its wait cost ~1.2 KiB per running instance; the callback ~0.1 KiB.
    """

    __slots__ = (
        "_executable",
        "_first_outcome",
        "_handle",
        "_on_change",
        "_oom_baseline",
        "_parked",
        "_record",
        "_run_started",
        "_settings",
        "_stop_requested",
        "_task",
        "_wake",
        "cgroup",
        "log",
        "spec",
    )

    def __init__(
        self,
        spec: InstanceSpec,
        settings: RuntimeSettings,
        on_change: OnChange,
        record: InstanceRecord | None = None,
    ) -> None:
        self.spec = spec
        self._settings = settings
        self._on_change = on_change
        if record is None:
            paths = LogPaths.for_instance(settings.log_dir, spec.instance_id, settings.fifo_dir)
            record = InstanceRecord.new(spec, paths.log_file, paths.stdout_file, paths.stderr_file)
        else:
            paths = LogPaths(record.log_path, record.stdout_fifo, record.stderr_fifo)
        self._record = record
        self.log = InstanceLog(
            spec.instance_id,
            paths,
            max_bytes=settings.log_max_bytes,
            keep=settings.log_keep,
            notifier=settings.notifier,
        )
        self.cgroup: InstanceCgroup | None = None
        self._handle: ProcessHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._parked = False  # running, watched by a done callback on its end (no task)
        self._stop_requested = False
        self._wake: asyncio.Future[None] | None = None  # what the lifecycle task awaits right now
        self._first_outcome: asyncio.Future[None] | None = None
        self._run_started: float | None = None  # monotonic
        self._oom_baseline: int | None = None
        self._executable = spec.command[0]

    @property
    def record(self) -> InstanceRecord:
        """The current snapshot (immutable)."""
        return self._record

    async def _change_state(self, new: InstanceState, **changes: Any) -> None:
        """Move to ``new`` (only if the lifecycle allows it), record ``changes``, tell the engine."""
        current = self._record.state
        if not is_legal(current, new):
            raise AssertionError(f"instance {self.spec.instance_id}: illegal state change {current} -> {new}")
        self._record = replace(self._record, state=new, state_since=time.time(), **changes)
        await self._tell_engine()

    async def _update(self, **changes: Any) -> None:
        """Record facts that are not a state change (an adoption note), and tell the engine."""
        assert "state" not in changes
        self._record = replace(self._record, **changes)
        await self._tell_engine()

    async def _tell_engine(self) -> None:
        try:
            result = self._on_change(self._record)
            if inspect.isawaitable(result):
                await result
        except Exception:
            # Supervision must go on even if persisting failed: the process is real either way.
            log.exception("on_change failed for instance %s (%s)", self.spec.instance_id, self._record.state)

    # -- commands -------------------------------------------------------------------------------

    async def start(self, spec: InstanceSpec | None = None) -> InstanceRecord:
        """Start a resting instance; returns once it runs or its first start attempt failed."""
        if self._record.state not in RESTING_STATES or self.busy:
            raise InstanceBusy(f"instance {self.spec.instance_id} is {self._record.state}; stop it first")
        if spec is not None:
            self.spec = spec
        self._stop_requested = False
        first = self._first_outcome = asyncio.get_running_loop().create_future()
        self._launch("spawn", fresh=True)
        try:
            await asyncio.shield(first)
        finally:
            if self._first_outcome is first and first.done():
                self._first_outcome = None  # not kept for the instance's whole life
        return self._record

    async def stop(self) -> InstanceRecord:
        """Stop it: returns once the process and all its descendants are gone (or it was resting)."""
        if self._parked:
            self._unpark()
            self._stop_requested = True
            self._launch("end")
        if self.busy:
            self._request_stop()
            assert self._task is not None
            await asyncio.shield(self._task)
        if self._record.state in (S.EXITED, S.FAILED):  # it came to rest on its own meanwhile
            await self._change_state(S.STOPPED)
        return self._record

    @property
    def busy(self) -> bool:
        """Whether it is supervised: starting, running, backing off or stopping."""
        return self._parked or (self._task is not None and not self._task.done())

    async def detach(self) -> None:
        """Stop supervising but leave the process running (engine shutdown; a new engine adopts it)."""
        if self._parked:
            self._unpark()
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if self.log.attached:
            self.log.detach()

    async def adopt(self) -> None:
        """Pick a recorded instance up again after an engine restart (see docs/runtime.md)."""
        rec = self._record
        if rec.state in RESTING_STATES:
            return
        if rec.state is S.BACKOFF:
            self._launch("backoff", delay=max(0.0, (rec.restart_at or 0.0) - time.time()))
            return
        paths = rec.cgroup_paths or self._settings.cgroups.expected_paths(
            self.spec.app, self.spec.instance_id
        )
        cgroup = self._settings.cgroups.open(paths) if self._settings.cgroups.available else None
        handle, why = reattach(rec.pid, rec.pid_start_ticks, cgroup if rec.cgroup_paths else None)
        self.cgroup = cgroup
        if handle is None:
            if cgroup is not None and cgroup.members():
                await cgroup.kill_all(self._settings.kill_timeout)  # leftovers in *our* cgroup only
            self.log.event(f"not adopted: {why}")
            if rec.state is S.STOPPING:
                await self._rest(S.STOPPED, ExitStatus(ExitReason.STOPPED, detail=f"ended while away: {why}"))
                return
            delay = await self._after_run(ExitStatus(ExitReason.DIED_WHILE_AWAY, detail=why))
            if delay is not None:
                self._launch("backoff", delay=delay)
            return
        self._handle = handle
        self.log.file.owner = instance_files.owner_of(self.spec)  # files rotated from now on: its user's too
        self.log.attach(fallback_pid=handle.pid)
        since = max(0.0, time.time() - (rec.started_at or time.time()))
        self._run_started = time.monotonic() - since
        self._oom_baseline = cgroup.oom_kills() if cgroup is not None else None
        self.log.event(f"adopted pid {handle.pid} after an engine restart (exit status will be unknown)")
        if self.log.note:
            await self._update(limits_note=_join(rec.limits_note, self.log.note))
        if rec.state is S.STARTING:
            await self._change_state(S.RUNNING)
        if rec.state is S.STOPPING:
            self._stop_requested = True
        self._launch("watch")

    # -- the lifecycle task ---------------------------------------------------------------------

    def _launch(self, step: str, *, delay: float = 0.0, fresh: bool = False) -> None:
        self._task = asyncio.create_task(
            self._lifecycle(step, delay, fresh), name=f"instance {self.spec.instance_id}"
        )
        self._task.add_done_callback(self._report_crash)

    def _report_crash(self, task: asyncio.Task[None]) -> None:
        if self._task is task:
            self._task = None  # a finished task (and its coroutine) is not kept while parked
        if not task.cancelled() and task.exception() is not None:
            log.error("supervision of %s stopped by a bug", self.spec.instance_id, exc_info=task.exception())

    def _settle_first_outcome(self) -> None:
        if self._first_outcome is not None and not self._first_outcome.done():
            self._first_outcome.set_result(None)

    async def _lifecycle(self, step: str, delay: float, fresh: bool) -> None:
        """Drive the instance until it rests: spawn, watch, decide, back off, spawn again."""
        try:
            while True:
                if step == "backoff":
                    if await self._sleep_unless_stopped(delay):
                        await self._rest(S.STOPPED, None)
                        return
                    step = "spawn"
                if step == "spawn":
                    failure = await self._spawn_run(fresh)
                    fresh = False
                    if failure is not None:
                        next_delay = await self._after_run(failure)
                        self._settle_first_outcome()
                        if next_delay is None:
                            return
                        step, delay = "backoff", next_delay
                        continue
                    self._settle_first_outcome()
                    step = "watch"
                if step == "watch":
                    assert self._handle is not None
                    end = self._handle.ended()
                    if not end.done() and not self._stop_requested:
                        self._park(end)  # this task ends; the process's end launches the next
                        return
                ended = await self._judge_end()
                if ended is None:
                    return
                next_delay = await self._after_run(ended)
                if next_delay is None:
                    return
                step, delay = "backoff", next_delay
        finally:
            self._settle_first_outcome()

    def _request_stop(self) -> None:
        self._stop_requested = True
        self._poke()

    def _poke(self, _: object = None) -> None:
        """Wake the lifecycle task from its wait (a stop request, or the process's end)."""
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    async def _sleep_unless_stopped(self, delay: float) -> bool:
        """Wait out a backoff; ``True`` when a stop came first (the pending restart is dropped)."""
        if not self._stop_requested:
            self._wake = asyncio.get_running_loop().create_future()
            try:
                await settled(self._wake, delay)
            finally:
                self._wake = None
        return self._stop_requested

    async def _spawn_run(self, fresh: bool) -> ExitStatus | None:
        """``starting`` → ``running``; returns the failure instead when it cannot start."""
        rec = self._record
        changes: dict[str, Any] = {"pid": None, "pid_start_ticks": None, "restart_at": None}
        if fresh:
            changes.update(spec=self.spec.shared_dict(), restart_streak=0, consecutive_failures=0)
        else:
            changes.update(restarts=rec.restarts + 1)
        self._run_started = None
        await self._change_state(S.STARTING, **changes)
        try:
            launched = await launch(self.spec, self.log, self._settings.cgroups, self._settings.kill_timeout)
        except StartFailure as exc:
            return ExitStatus(ExitReason.START_FAILED, detail=str(exc))
        self._handle, self.cgroup, self._executable = launched.handle, launched.cgroup, launched.executable
        self._run_started = time.monotonic()
        self._oom_baseline = self.cgroup.oom_kills()
        await self._change_state(
            S.RUNNING,
            pid=launched.handle.pid,
            pid_start_ticks=launched.handle.start_ticks,
            cgroup_paths=self.cgroup.paths,
            started_at=time.time(),
            limits_applied=launched.limits_applied,
            limits_note=launched.limits_note,
        )
        return None

    def _park(self, end: asyncio.Future[ProcessEnd]) -> None:
        """Watch the running process without a task: its end launches the lifecycle again."""
        end.add_done_callback(self._on_end)
        self._parked = True

    def _unpark(self) -> None:
        """Take the done callback off (a stop or a detach takes over from here)."""
        self._parked = False
        if self._handle is not None:
            self._handle.ended().remove_done_callback(self._on_end)

    def _on_end(self, _: object) -> None:
        # Scheduled by the future once done; a stop() or detach() in between unparked it first.
        if self._parked:
            self._parked = False
            self._launch("end")

    async def _judge_end(self) -> ExitStatus | None:
        """The process ended or a stop was asked for; ``None`` once a stop has completed."""
        assert self._handle is not None
        if self._stop_requested:
            await self._stop_run()
            return None
        return await self._end_run(self._handle.ended().result(), stopping=False)

    async def _stop_run(self) -> None:
        """``running`` → ``stopping`` → ``stopped``: stop_signal, grace, then SIGKILL everything.

        Bounded whatever happens to exit notifications: ``stop_timeout`` for the grace, then one
        ``kill_timeout`` budget shared by every wait after SIGKILL (the process, its cgroup, its
        leftovers), plus the time the engine's ``on_change`` takes.
        """
        assert self._handle is not None
        handle, spec = self._handle, self.spec
        if self._record.state is not S.STOPPING:  # already stopping when adopted mid-stop
            await self._change_state(S.STOPPING)
        how = "it had already ended"  # a stop that raced with the process's own exit
        kill_deadline: float | None = None
        if not handle.check_ended():
            name = signal_name(spec.stop_signal)
            self.log.event(f"stopping: {name} to the process group, SIGKILL after {spec.stop_timeout:g}s")
            handle.signal_group(spec.stop_signal)
            how = name
            if not await handle.wait_ended(spec.stop_timeout):
                how = f"SIGKILL after {name} was ignored for {spec.stop_timeout:g}s"
                self.log.event(
                    f"still running after {spec.stop_timeout:g}s: SIGKILL to the process group and cgroup"
                )
                kill_deadline = time.monotonic() + self._settings.kill_timeout
                handle.signal_group(signal.SIGKILL)
                if self.cgroup is not None:
                    await self.cgroup.kill_all(self._settings.kill_timeout)
                await handle.wait_ended(kill_deadline - time.monotonic())
        ended = handle.ended()
        end = ended.result() if ended.done() else None
        status = await self._end_run(end, stopping=True, how=how, kill_deadline=kill_deadline)
        await self._rest(S.STOPPED, status)

    async def _end_run(
        self, end: ProcessEnd | None, *, stopping: bool, how: str = "", kill_deadline: float | None = None
    ) -> ExitStatus:
        """The main process ended: kill what it left behind, reap it, and say how the run ended.

        Leftovers get ``kill_timeout`` to die, or what is left of ``kill_deadline`` when a stop
        already spent part of that budget.
        """
        assert self._handle is not None
        handle, self._handle = self._handle, None
        budget = self._settings.kill_timeout
        if kill_deadline is not None:
            budget = max(0.0, kill_deadline - time.monotonic())
        survivors = await kill_leftovers(handle, self.cgroup, budget)
        handle.release()
        self.log.drain(flush_partial=True)
        status = self._classify(end, stopping=stopping, how=how)
        if end is None and stopping:
            status = replace(
                status, detail=_join(status.detail, f"pid {handle.pid} did not die after SIGKILL")
            )
        if survivors:
            kept = ", ".join(map(str, survivors))
            status = replace(status, detail=_join(status.detail, f"pids {kept} survived SIGKILL"))
        self.log.event(status.describe())
        return status

    def _classify(self, end: ProcessEnd | None, *, stopping: bool, how: str) -> ExitStatus:
        oom_now = self.cgroup.oom_kills() if self.cgroup is not None else None
        oom_fired = oom_now is not None and self._oom_baseline is not None and oom_now > self._oom_baseline
        return classify_exit(
            end,
            stopping=stopping,
            how=how,
            oom_fired=oom_fired,
            executable=self._executable,
            memory_limit=self.spec.resources.memory,
        )

    async def _after_run(self, status: ExitStatus) -> float | None:
        """Back off (returns the delay) or come to rest in ``exited``/``failed`` (returns ``None``)."""
        rec, spec = self._record, self.spec
        ran_for = time.monotonic() - self._run_started if self._run_started is not None else None
        decision = decide_after_run(
            policy=spec.restart,
            max_restarts=spec.max_restarts,
            exit_status=status,
            ran_for=ran_for,
            restart_streak=rec.restart_streak,
            consecutive_failures=rec.consecutive_failures,
            backoff=self._settings.backoff,
        )
        counters: dict[str, Any] = {
            "restart_streak": decision.restart_streak,
            "consecutive_failures": decision.consecutive_failures,
        }
        if decision.next_state is S.BACKOFF:
            assert decision.delay is not None
            self.log.event(f"restarting in {decision.delay:g}s (restart = {spec.restart})")
            await self._change_state(
                S.BACKOFF,
                pid=None,
                pid_start_ticks=None,
                restart_at=time.time() + decision.delay,
                **exit_fields(status),
                **counters,
            )
            return decision.delay
        if decision.next_state is S.FAILED:
            if spec.restart != "no":
                self.log.event(
                    f"giving up: {decision.consecutive_failures} failed run(s) in a row"
                    f" (max_restarts = {spec.max_restarts})"
                )
            await self._rest(S.FAILED, status, capture_log=True, **counters)
        else:
            await self._rest(decision.next_state, status, **counters)
        return None

    async def _rest(
        self, state: InstanceState, status: ExitStatus | None, *, capture_log: bool = False, **changes: Any
    ) -> None:
        """Release what a resting instance no longer needs (cgroup, pipes), then enter ``state``."""
        note = self._record.limits_note
        if self.cgroup is not None:
            note = _join(note, self.cgroup.remove())
            self.cgroup = None
        if self.log.attached:
            self.log.detach()
        if capture_log:
            reader = LogReader(self.log.paths.log.parent, keep=self._settings.log_keep)
            changes["last_log_lines"] = reader.read_tail(
                self.spec.instance_id, self._settings.failure_log_lines
            )
        last_exit = exit_fields(status) if status is not None else {}
        await self._change_state(
            state, pid=None, pid_start_ticks=None, restart_at=None, limits_note=note, **last_exit, **changes
        )
