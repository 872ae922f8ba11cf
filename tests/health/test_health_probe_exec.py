"""The exec probe with real processes."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from mooring.health import ProbeSpec, probe_once

from .health_testkit import Runner, gone_or_zombie, wait_until


def sh(script: str, **kwargs: object) -> ProbeSpec:
    return ProbeSpec("exec", command=("sh", "-c", script), **kwargs)  # type: ignore[arg-type]


def test_exit_0_is_healthy(run: Runner) -> None:
    result = run(probe_once(sh("echo fine; exit 0")))
    assert (result.ok, result.detail, result.exit_code) == (True, "exit 0", 0)


def test_nonzero_exit_is_unhealthy_with_the_tail_of_stderr(run: Runner) -> None:
    result = run(probe_once(sh("echo noise; echo 'db is down' >&2; exit 1")))
    assert (result.ok, result.detail, result.exit_code) == (False, "exit 1: db is down", 1)


def test_stdout_tail_is_used_when_stderr_is_empty(run: Runner) -> None:
    result = run(probe_once(sh("head -c 5000 /dev/zero | tr '\\0' x; echo END; exit 2")))
    assert result.detail.startswith("exit 2: ...") and result.detail.endswith("xEND")
    assert len(result.detail) == len("exit 2: ...") + 200


def test_env_and_cwd_are_respected(run: Runner, tmp_path: Path) -> None:
    spec = sh('[ "$PROBE_TOKEN" = s3cret ] && [ "$(pwd)" = "$EXPECTED_DIR" ]', cwd=str(tmp_path))
    spec_env = {"PROBE_TOKEN": "s3cret", "EXPECTED_DIR": str(tmp_path.resolve())}
    assert run(probe_once(ProbeSpec("exec", command=spec.command, env=spec_env, cwd=str(tmp_path)))).ok
    assert not run(probe_once(ProbeSpec("exec", command=spec.command, cwd=str(tmp_path)))).ok


def test_env_is_added_to_the_engine_environment(run: Runner) -> None:
    # PATH comes from the engine's environment, so `sh` and `test` are still found.
    assert run(probe_once(sh('[ "$EXTRA" = 1 ] && [ -n "$PATH" ]', env={"EXTRA": "1"}))).ok


def test_timeout_kills_the_whole_process_group(run: Runner, tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    result = run(probe_once(sh(f"sleep 30 & echo $! > {pidfile}; wait", timeout=0.3)))
    assert (result.ok, result.detail, result.exit_code) == (False, "timed out after 300ms", None)
    assert result.latency_ms < 2000
    child = int(pidfile.read_text())
    wait_until(lambda: gone_or_zombie(child))


def test_a_background_child_does_not_hold_the_check_open(run: Runner, tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    result = run(probe_once(sh(f"sleep 30 & echo $! > {pidfile}; exit 1", timeout=5)))
    assert (result.ok, result.exit_code) == (False, 1)
    assert result.latency_ms < 2000  # decided by the check's own exit, not by the 30 s sleep
    child = int(pidfile.read_text())
    wait_until(lambda: gone_or_zombie(child))


def test_a_missing_command_is_reported(run: Runner) -> None:
    result = run(probe_once(ProbeSpec("exec", command=("no-such-health-command",))))
    assert (result.ok, result.detail) == (
        False,
        "cannot run no-such-health-command: No such file or directory",
    )


def test_a_check_killed_by_a_signal_says_so(run: Runner) -> None:
    result = run(probe_once(sh("kill -TERM $$")))
    assert (result.ok, result.detail, result.exit_code) == (False, "killed by SIGTERM", -15)


def test_gone_or_zombie_sees_a_live_process() -> None:
    assert not gone_or_zombie(os.getpid())


def test_cancelling_a_probe_while_its_process_starts_kills_it_without_hanging(
    run: Runner, tmp_path: Path
) -> None:
    pidfile = tmp_path / "child.pid"

    async def scenario() -> None:
        spec = sh(f"sleep 30 & echo $! > {pidfile}; wait", timeout=30)
        for steps in range(5):  # cancel at successive points of the start-up
            task = asyncio.create_task(probe_once(spec))
            for _ in range(steps):
                await asyncio.sleep(0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    started = time.monotonic()
    run(scenario())
    assert time.monotonic() - started < 10
    if pidfile.exists() and pidfile.read_text().strip():
        child = int(pidfile.read_text())
        wait_until(lambda: gone_or_zombie(child))
