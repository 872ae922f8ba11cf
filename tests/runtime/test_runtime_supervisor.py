"""Supervision of real processes: start, stop, restarts with backoff, giving up, start failures."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import time
from pathlib import Path

import pytest
from runtime_testkit import (
    PYTHON,
    Recorder,
    log_lines,
    make_spec,
    new_supervisor,
    process_gone,
    run_bounded,
    sh,
    wait_until,
)

from mooring.runtime import (
    BackoffPolicy,
    ExitReason,
    InstanceBusy,
    InstanceRecord,
    InstanceState,
    UnknownInstance,
)
from mooring.runtime.cgroups import CgroupHost
from mooring.runtime.proc import read_stat

S = InstanceState


def test_simple_process_starts_runs_and_stops_fast(log_dir: Path, workdir: Path, cgroups: CgroupHost) -> None:
    async def scenario() -> None:
        recorder = Recorder()
        sup = new_supervisor(log_dir, cgroups, on_change=recorder)
        spec = make_spec(workdir, ["sleep", "60"], stop_timeout=10.0)
        record = await sup.start(spec)
        assert record.state is S.RUNNING
        assert record.pid is not None and not process_gone(record.pid, record.pid_start_ticks)
        stat_ = read_stat(record.pid)
        assert stat_ is not None and stat_.comm == "sleep"
        assert stat_.pgid == record.pid and stat_.sid == record.pid  # its own session and group
        facts = sup.facts("web-1")
        assert facts.pid == record.pid and facts.state == "running" and facts.rss_bytes
        started = time.monotonic()
        stopped = await sup.stop("web-1")
        took = time.monotonic() - started
        assert stopped.state is S.STOPPED
        assert stopped.last_exit_reason is ExitReason.STOPPED
        assert stopped.last_exit_signal == signal.SIGTERM
        assert process_gone(record.pid, record.pid_start_ticks)
        assert took < 2.0, f"a cooperative stop took {took:.3f}s; it must not wait for stop_timeout"
        assert recorder.states("web-1") == ["starting", "running", "stopping", "stopped"]
        assert all(not Path(p).exists() for p in record.cgroup_paths), "cgroup left behind"

    run_bounded(scenario())


def test_env_and_working_dir_are_the_specs(log_dir: Path, workdir: Path, cgroups: CgroupHost) -> None:
    async def scenario() -> None:
        sup = new_supervisor(log_dir, cgroups)
        env = {"PATH": "/usr/bin:/bin", "PORT": "8080", "MOORING_INSTANCE": "web-1"}
        spec = make_spec(
            workdir, sh('echo "port=$PORT id=$MOORING_INSTANCE cwd=$(pwd) home=${HOME:-unset}"'), env=env
        )
        await sup.start(spec)
        record = await sup.wait_for("web-1", [S.EXITED], timeout=10)
        assert record.last_exit_reason is ExitReason.CLEAN_EXIT and record.last_exit_code == 0
        text = "\n".join(log_lines(record.log_path))
        assert f"stdout port=8080 id=web-1 cwd={workdir} home=unset" in text

    run_bounded(scenario())


def test_restart_no_exits_and_stays_exited(log_dir: Path, workdir: Path, cgroups: CgroupHost) -> None:
    async def scenario() -> None:
        recorder = Recorder()
        sup = new_supervisor(log_dir, cgroups, on_change=recorder)
        await sup.start(make_spec(workdir, sh("echo bye; exit 4"), restart="no"))
        record = await sup.wait_for("web-1", [S.EXITED], timeout=10)
        assert record.last_exit_code == 4 and record.last_exit_reason is ExitReason.CRASHED
        assert record.restart_at is None and record.restarts == 0 and record.pid is None
        assert recorder.states("web-1") == ["starting", "running", "exited"]
        # Nothing is scheduled: only an explicit start leaves `exited` (and stop moves it to `stopped`).
        assert (await sup.stop("web-1")).state is S.STOPPED

    run_bounded(scenario())


def test_crash_loop_backs_off_exponentially_then_gives_up(
    log_dir: Path, workdir: Path, cgroups: CgroupHost
) -> None:
    backoff = BackoffPolicy(base=0.15, cap=5.0, reset_after=10.0)

    async def scenario() -> None:
        recorder = Recorder()
        sup = new_supervisor(log_dir, cgroups, on_change=recorder, backoff=backoff)
        spec = make_spec(
            workdir, sh("echo boom-$$; echo oops >&2; exit 3"), restart="on-failure", max_restarts=3
        )
        await sup.start(spec)
        record = await sup.wait_for("web-1", [S.FAILED], timeout=15)
        assert record.restarts == 3 and record.consecutive_failures == 4
        assert record.last_exit_code == 3 and record.last_exit_reason is ExitReason.CRASHED
        assert "exited with code 3" in record.last_exit_message
        assert any(" stdout boom-" in line for line in record.last_log_lines)
        assert any(line.endswith(" stderr oops") for line in record.last_log_lines)
        assert any("giving up" in line for line in record.last_log_lines)
        assert len(record.last_log_lines) <= 20
        # Gaps between one run's end and the next run's start grow: 0.15, 0.3, 0.6 s.
        ends = [r.state_since for r in recorder.records if r.state is S.BACKOFF]
        starts = [r.state_since for r in recorder.records if r.state is S.STARTING][1:]
        gaps = [start - end for end, start in zip(ends, starts, strict=True)]
        assert len(gaps) == 3
        for gap, delay in zip(gaps, (0.15, 0.3, 0.6), strict=True):
            assert gap >= delay * 0.99, gaps
        assert gaps[0] < gaps[1] < gaps[2], gaps
        delays = [round(r.restart_at - r.state_since, 2) for r in recorder.records if r.state is S.BACKOFF]
        assert delays == [0.15, 0.3, 0.6]

    run_bounded(scenario())


def test_restart_always_restarts_a_clean_exit(log_dir: Path, workdir: Path, cgroups: CgroupHost) -> None:
    async def scenario() -> None:
        sup = new_supervisor(log_dir, cgroups)
        await sup.start(make_spec(workdir, ["true"], restart="always", max_restarts=0))
        record = await sup.wait_for("web-1", lambda r: r.restarts >= 2, timeout=10)
        assert record.last_exit_reason is ExitReason.CLEAN_EXIT
        assert (await sup.stop("web-1")).state is S.STOPPED

    run_bounded(scenario())


def test_stop_during_backoff_cancels_the_restart(log_dir: Path, workdir: Path, cgroups: CgroupHost) -> None:
    async def scenario() -> None:
        recorder = Recorder()
        sup = new_supervisor(log_dir, cgroups, on_change=recorder, backoff=BackoffPolicy(base=30, cap=30))
        await sup.start(make_spec(workdir, ["false"], restart="on-failure"))
        await sup.wait_for("web-1", [S.BACKOFF], timeout=10)
        started = time.monotonic()
        record = await sup.stop("web-1")
        assert time.monotonic() - started < 1.0
        assert record.state is S.STOPPED and record.restart_at is None
        assert recorder.states("web-1") == ["starting", "running", "backoff", "stopped"]

    run_bounded(scenario())


def test_command_not_found_is_a_start_failure(log_dir: Path, workdir: Path, cgroups: CgroupHost) -> None:
    async def scenario() -> None:
        recorder = Recorder()
        sup = new_supervisor(log_dir, cgroups, on_change=recorder)
        record = await sup.start(make_spec(workdir, ["no-such-command-mooring"], restart="no"))
        assert record.state is S.FAILED
        assert record.last_exit_reason is ExitReason.START_FAILED
        assert "command not found: 'no-such-command-mooring'" in record.last_exit_message
        assert record.pid is None and record.started_at is None
        assert recorder.states("web-1") == ["starting", "failed"]

    run_bounded(scenario())


def test_start_failures_are_retried_then_given_up(log_dir: Path, workdir: Path, cgroups: CgroupHost) -> None:
    async def scenario() -> None:
        sup = new_supervisor(log_dir, cgroups)
        spec = make_spec(workdir, ["./missing-binary"], restart="always", max_restarts=2)
        first = await sup.start(spec)
        assert first.state is S.BACKOFF and first.last_exit_reason is ExitReason.START_FAILED
        record = await sup.wait_for("web-1", [S.FAILED], timeout=10)
        assert record.restarts == 2 and record.last_exit_reason is ExitReason.START_FAILED
        assert (
            f"command not found: ./missing-binary (relative to working dir {workdir})"
            in record.last_exit_message
        )

    run_bounded(scenario())


def test_exec_failure_inside_the_cgroup_wrapper_is_a_start_failure(
    log_dir: Path, workdir: Path, cgroups: CgroupHost
) -> None:
    script = workdir / "broken"
    script.write_text("#!/nonexistent/interpreter\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)

    async def scenario() -> None:
        sup = new_supervisor(log_dir, cgroups)
        await sup.start(make_spec(workdir, [str(script)], restart="no"))
        record = await sup.wait_for("web-1", [S.FAILED, S.EXITED], timeout=10)
        if not cgroups.available:  # without the wrapper, Popen itself reports the exec error
            assert record.state is S.FAILED
        assert record.last_exit_reason is ExitReason.START_FAILED, record.last_exit_message
        assert record.state is S.FAILED

    run_bounded(scenario())


def test_missing_working_dir_is_a_start_failure(log_dir: Path, tmp_path: Path, cgroups: CgroupHost) -> None:
    async def scenario() -> None:
        sup = new_supervisor(log_dir, cgroups)
        record = await sup.start(make_spec(tmp_path / "nope", ["true"]))
        assert record.state is S.FAILED and "working directory" in record.last_exit_message

    run_bounded(scenario())


def test_stop_kills_a_term_ignoring_tree_including_setsid_escapees(
    log_dir: Path, workdir: Path, cgroups: CgroupHost
) -> None:
    script = (
        "trap '' TERM; "
        "sleep 300 & echo child $!; "
        "(setsid sleep 300 & echo escaped $!); "  # its parent exits: reparented, own session
        f"{PYTHON} -c 'import os, time; os.setsid(); print(\"setsid\", os.getpid(), flush=True); time.sleep(300)' & "
        "echo ready; wait"
    )

    async def scenario() -> None:
        sup = new_supervisor(log_dir, cgroups)
        record = await sup.start(make_spec(workdir, sh(script), stop_timeout=0.5))
        assert record.pid is not None

        def pids() -> list[int]:
            words = [line.split() for line in log_lines(record.log_path)]
            return [int(w[-1]) for w in words if len(w) >= 4 and w[-2] in ("child", "escaped", "setsid")]

        await wait_until(lambda: len(pids()) == 3, 10, "three descendants to report their pids")
        descendants = pids()
        stats = [read_stat(pid) for pid in descendants]
        assert all(found is not None and not found.is_zombie for found in stats)
        assert any(found is not None and found.sid == found.pid for found in stats)  # one left the session
        started = time.monotonic()
        stopped = await sup.stop("web-1")
        took = time.monotonic() - started
        assert 0.5 <= took < 5.0, took
        assert stopped.state is S.STOPPED and "SIGKILL after SIGTERM was ignored" in stopped.last_exit_message
        still = [pid for pid in [record.pid, *descendants] if not process_gone(pid)]
        assert not still, f"survived stop: {still}"

    if not cgroups.available:
        pytest.skip("a setsid escapee can only be caught through a cgroup")
    run_bounded(scenario())


def test_stop_without_cgroups_kills_the_process_group(log_dir: Path, workdir: Path) -> None:
    host = CgroupHost("unused")  # no hierarchies: process group only

    async def scenario() -> None:
        sup = new_supervisor(log_dir, host)
        record = await sup.start(
            make_spec(workdir, sh("trap '' TERM; sleep 300 & echo child $!; wait"), stop_timeout=0.3)
        )
        assert record.cgroup_paths == [] and "process group only" in record.limits_note
        assert record.limits_applied  # nothing was asked for
        await wait_until(
            lambda: any(" stdout child " in line for line in log_lines(record.log_path)), 10, "pid"
        )
        child = int(next(line for line in log_lines(record.log_path) if " stdout child " in line).split()[-1])
        stopped = await sup.stop("web-1")
        assert stopped.state is S.STOPPED
        assert process_gone(record.pid or 0) and process_gone(child)

    run_bounded(scenario())


def test_limits_requested_without_cgroups_are_reported_not_faked(log_dir: Path, workdir: Path) -> None:
    from mooring.runtime import Resources

    async def scenario() -> None:
        sup = new_supervisor(log_dir, CgroupHost("unused"))
        record = await sup.start(make_spec(workdir, ["sleep", "30"], resources=Resources(memory=64 << 20)))
        assert record.state is S.RUNNING  # still runs
        assert record.limits_applied is False
        assert "limits not applied" in record.limits_note
        assert sup.facts("web-1").limits_applied is False
        await sup.stop("web-1")

    run_bounded(scenario())


def test_killed_by_someone_else_counts_as_failure(log_dir: Path, workdir: Path, cgroups: CgroupHost) -> None:
    async def scenario() -> None:
        sup = new_supervisor(log_dir, cgroups)
        record = await sup.start(make_spec(workdir, ["sleep", "60"], restart="on-failure", max_restarts=0))
        assert record.pid is not None
        os.kill(record.pid, signal.SIGTERM)
        record = await sup.wait_for("web-1", [S.FAILED], timeout=10)
        assert record.last_exit_reason is ExitReason.KILLED and record.last_exit_signal == signal.SIGTERM

    run_bounded(scenario())


def test_an_async_on_change_is_awaited_before_the_next_effect(
    log_dir: Path, workdir: Path, cgroups: CgroupHost
) -> None:
    journal: list[tuple[str, bool]] = []

    async def persist(record: InstanceRecord) -> None:
        await asyncio.sleep(0.01)  # a slow store
        alive = record.pid is not None and not process_gone(record.pid, record.pid_start_ticks)
        journal.append((record.state.value, alive))

    async def scenario() -> None:
        sup = new_supervisor(log_dir, cgroups, on_change=persist)
        await sup.start(make_spec(workdir, ["sleep", "60"]))
        # `stopping` is journaled while the process still runs: the signal only follows the journal.
        await sup.stop("web-1")
        assert journal == [("starting", False), ("running", True), ("stopping", True), ("stopped", False)]

    run_bounded(scenario())


def test_a_failing_on_change_does_not_stop_supervision(
    log_dir: Path, workdir: Path, cgroups: CgroupHost
) -> None:
    def broken(record: InstanceRecord) -> None:
        raise RuntimeError("store is down")

    async def scenario() -> None:
        sup = new_supervisor(log_dir, cgroups, on_change=broken)
        assert (await sup.start(make_spec(workdir, ["sleep", "60"]))).state is S.RUNNING
        assert (await sup.stop("web-1")).state is S.STOPPED

    run_bounded(scenario())


def test_forget_drops_a_resting_instance_but_keeps_its_log(
    log_dir: Path, workdir: Path, cgroups: CgroupHost
) -> None:
    async def scenario() -> None:
        sup = new_supervisor(log_dir, cgroups)
        record = await sup.start(make_spec(workdir, ["sleep", "60"]))
        with pytest.raises(InstanceBusy, match="stop it before forgetting it"):
            await sup.forget("web-1")
        with pytest.raises(InstanceBusy, match="stop it first"):
            await sup.start(make_spec(workdir, ["sleep", "60"]))
        await sup.stop("web-1")
        await sup.forget("web-1")
        assert not Path(record.stdout_fifo).exists() and Path(record.log_path).exists()
        with pytest.raises(UnknownInstance, match="no instance 'web-1' is supervised here"):
            sup.record("web-1")

    run_bounded(scenario())
